"""DescribeClientQuotas (48), v0–1: the quotas set for users, client ids and IPs that match the filter
(exact name, default entity, or any entity of a type; strict: no other entity types). A bad filter is an error
for the whole request (entries null), as Kafka answers it."""
from __future__ import annotations

from kbroker.handlers._authz import Operation, allowed_cluster
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode, KafkaError

KEY, MIN, MAX = 48, 0, 1


async def handle(ctx: RequestContext, request: dict) -> dict:
    if not allowed_cluster(ctx, Operation.DESCRIBE_CONFIGS):  # Kafka: DESCRIBE_CONFIGS on the cluster
        return {"throttle_time_ms": 0, "error_code": ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "error_message": None, "entries": None}
    try:
        entries = ctx.broker.quotas.describe(request["components"], request["strict"])
    except KafkaError as exc:
        return {"throttle_time_ms": 0, "error_code": int(exc.code), "error_message": exc.message, "entries": None}
    return {"throttle_time_ms": 0, "error_code": 0, "error_message": None, "entries": entries}
