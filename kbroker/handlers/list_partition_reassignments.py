"""ListPartitionReassignments (46), v0: the partitions being reassigned (all, with topics null, or of those
asked for), with their replicas, adding and removing replicas. No reassignment is ever in progress on a single
broker, so it lists no topics."""
from __future__ import annotations

from kbroker.handlers._authz import Operation, allowed_cluster
from kbroker.cluster import reassignment
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 46, 0, 0


async def handle(ctx: RequestContext, request: dict) -> dict:
    if not allowed_cluster(ctx, Operation.DESCRIBE):  # Kafka: DESCRIBE on the cluster
        return {"throttle_time_ms": 0, "error_code": ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "error_message": None, "topics": []}
    cluster = ctx.broker.cluster
    if cluster is None:
        return {"throttle_time_ms": 0, "error_code": 0, "error_message": None, "topics": []}
    wanted = None
    if request["topics"] is not None:
        wanted = [(t["name"], list(t["partition_indexes"])) for t in request["topics"]]
    return {"throttle_time_ms": 0, "error_code": 0, "error_message": None,
            "topics": reassignment.listing(cluster, wanted)}
