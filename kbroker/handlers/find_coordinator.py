"""FindCoordinator (10), v0–6: which broker coordinates a group (key type 0) or a transactional id (key type 1).

v0–3 ask about one key, v4+ about several (coordinator_keys, one answer each). With a single broker the answer is
always this broker. A group lookup first makes sure `__consumer_offsets` exists (Kafka creates it here too).
"""
from __future__ import annotations

import logging

from kbroker.coordinator import group_coordinator
from kbroker.handlers._authz import Operation, ResourceType, allowed
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode, KafkaError

KEY, MIN, MAX = 10, 0, 6

GROUP, TRANSACTION = 0, 1
log = logging.getLogger(__name__)


def _lookup(ctx: RequestContext, key: str, key_type: int) -> tuple[int, str | None]:
    # Kafka: DESCRIBE on the group / transactional id
    if key_type == GROUP and not allowed(ctx, Operation.DESCRIBE, ResourceType.GROUP, key):
        return int(ErrorCode.GROUP_AUTHORIZATION_FAILED), None
    if key_type == TRANSACTION and not allowed(ctx, Operation.DESCRIBE, ResourceType.TRANSACTIONAL_ID, key):
        return int(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED), None
    if key_type == GROUP:
        try:
            group_coordinator(ctx.broker).ensure_offsets_topic()
        except KafkaError as exc:
            log.warning("cannot create the offsets topic: %s", exc)
            return int(ErrorCode.COORDINATOR_NOT_AVAILABLE), exc.message
        return 0, None
    if key_type == TRANSACTION:
        return 0, None
    return int(ErrorCode.INVALID_REQUEST), f"Unknown coordinator type {key_type} in FindCoordinator request"


async def handle(ctx: RequestContext, request: dict) -> dict:
    broker = ctx.broker
    key_type = request.get("key_type", GROUP) if ctx.version >= 1 else GROUP
    endpoint = broker.endpoint_for(ctx.auth.listener.name if ctx.auth is not None else None)
    node = {"node_id": broker.node_id, "host": endpoint.host, "port": endpoint.port}
    missing = {"node_id": -1, "host": "", "port": -1}
    if ctx.version < 4:
        error, message = _lookup(ctx, request["key"], key_type)
        where = missing if error else node
        return {"throttle_time_ms": 0, "error_code": error, "error_message": message, **where}
    coordinators = []
    for key in request["coordinator_keys"]:
        error, message = _lookup(ctx, key, key_type)
        where = missing if error else node
        coordinators.append({"key": key, "error_code": error, "error_message": message, **where})
    return {"throttle_time_ms": 0, "coordinators": coordinators}
