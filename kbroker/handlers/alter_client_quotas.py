"""AlterClientQuotas (49), v0–1: set or remove quota values of user / client-id / IP entities, validated as
Kafka's controller does (known keys per entity type, positive values, integral where the key is); kept with
the cluster metadata and enforced at once for the byte rates (kbroker.quotas). An IP entity named by a host name
is valid when the name resolves; the lookup runs in a worker thread, bounded by RESOLVE_TIMEOUT_S, never on the
event loop."""
from __future__ import annotations

import socket

import anyio

from kbroker.quotas import ip_names_to_resolve
from kbroker.handlers._authz import Operation, allowed_cluster
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 49, 0, 1
RESOLVE_TIMEOUT_S = 10.0


async def _resolves(name: str) -> bool:
    with anyio.move_on_after(RESOLVE_TIMEOUT_S):
        try:
            await anyio.getaddrinfo(name, None)
            return True
        except (OSError, UnicodeError, socket.gaierror):
            return False
    return False


async def handle(ctx: RequestContext, request: dict) -> dict:
    if not allowed_cluster(ctx, Operation.ALTER_CONFIGS):  # Kafka: ALTER_CONFIGS on the cluster
        return {"throttle_time_ms": 0, "entries": [{"error_code": ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "error_message": None,
                                                   "entity": e["entity"]} for e in request["entries"]]}
    resolvable = {name for name in ip_names_to_resolve(request["entries"]) if await _resolves(name)}
    results = ctx.broker.quotas.alter(request["entries"], request["validate_only"], resolvable)
    return {"throttle_time_ms": 0,
            "entries": [{"error_code": code, "error_message": message, "entity": entity}
                        for entity, code, message in results]}
