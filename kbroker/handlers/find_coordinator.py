"""FindCoordinator (10), v0–6: which broker coordinates a group (key type 0) or a transactional id (key type 1).

v0–3 ask about one key, v4+ about several (coordinator_keys, one answer each). With a single broker the answer is
always this broker. A group lookup first makes sure `__consumer_offsets` exists (Kafka creates it here too).
"""
from __future__ import annotations

import logging

from kbroker.cluster import view
from kbroker.coordinator import group_coordinator
from kbroker.handlers._authz import Operation, ResourceType, allowed
from kbroker.coordinator.records import partition_for
from kbroker.handlers import _endpoints as endpoints
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode, KafkaError

KEY, MIN, MAX = 10, 0, 6

GROUP, TRANSACTION = 0, 1
log = logging.getLogger(__name__)


def _where(ctx: RequestContext, key: str, key_type: int) -> tuple[int, str | None, dict | None]:
    """(error, message, node): in a cluster, the leader of the key's partition of the internal topic."""
    broker = ctx.broker
    error, message = _lookup(ctx, key, key_type)
    if error:
        return error, message, None
    if broker.cluster is None:
        me = broker.endpoint_for(ctx.auth.listener.name if ctx.auth is not None else None)
        return 0, None, {"node_id": broker.node_id, "host": me.host, "port": me.port}
    topic = "__consumer_offsets" if key_type == GROUP else "__transaction_state"
    if key_type == TRANSACTION:
        from kbroker.coordinator.transactions import transaction_coordinator

        try:
            getattr(transaction_coordinator(broker).store, "ensure_topic", lambda: None)()
        except KafkaError as exc:
            return int(ErrorCode.COORDINATOR_NOT_AVAILABLE), exc.message, None
    info = broker.topic(topic)
    if info is None:
        return int(ErrorCode.COORDINATOR_NOT_AVAILABLE), None, None
    leader = view.partition(broker, topic, partition_for(key, info.partitions)).leader
    node = endpoints.node(ctx, leader)
    if node is None:
        return int(ErrorCode.COORDINATOR_NOT_AVAILABLE), None, None
    return 0, None, {"node_id": node.node_id, "host": node.host, "port": node.port}


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
    key_type = request.get("key_type", GROUP) if ctx.version >= 1 else GROUP
    missing = {"node_id": -1, "host": "", "port": -1}
    if ctx.version < 4:
        error, message, node = _where(ctx, request["key"], key_type)
        where = node or missing
        return {"throttle_time_ms": 0, "error_code": error, "error_message": message, **where}
    coordinators = []
    for key in request["coordinator_keys"]:
        error, message, node = _where(ctx, key, key_type)
        where = node or missing
        coordinators.append({"key": key, "error_code": error, "error_message": message, **where})
    return {"throttle_time_ms": 0, "coordinators": coordinators}
