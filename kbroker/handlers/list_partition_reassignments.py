"""ListPartitionReassignments (46), v0: no reassignment is ever in progress on a single broker, so the answer
lists no topics, whether all (topics null) or some were asked for."""
from __future__ import annotations

from kbroker.handlers._authz import Operation, allowed_cluster
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 46, 0, 0


async def handle(ctx: RequestContext, request: dict) -> dict:
    if not allowed_cluster(ctx, Operation.DESCRIBE):  # Kafka: DESCRIBE on the cluster
        return {"throttle_time_ms": 0, "error_code": ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "error_message": None, "topics": []}
    return {"throttle_time_ms": 0, "error_code": 0, "error_message": None, "topics": []}
