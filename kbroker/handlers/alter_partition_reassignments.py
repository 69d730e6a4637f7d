"""AlterPartitionReassignments (45), v0–1: move partitions to other replicas (kbroker.cluster.reassignment).

With one broker the only valid assignment is [this broker]: assigning a partition to its current replicas
completes at once (no error, nothing moves); naming another broker is INVALID_REPLICA_ASSIGNMENT with the
controller's message, as are an empty list and a broker named twice; cancelling (replicas null) gets
NO_REASSIGNMENT_IN_PROGRESS, since none ever is. In a cluster the reassignment is recorded and carried out by the
new replicas catching up and the controller completing it.
"""
from __future__ import annotations

from kbroker.cluster import reassignment
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 45, 0, 1


def _check(ctx: RequestContext, topic: str, index: int, replicas: list[int] | None) -> tuple[int, str | None]:
    broker = ctx.broker
    info = broker.topic(topic)
    if info is None:
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Unable to find a topic named {topic}."
    if not 0 <= index < info.partitions:
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Unable to find partition {topic}:{index}."
    if replicas is None:
        return ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, "No partition reassignment is in progress."
    if not replicas:
        return ErrorCode.INVALID_REPLICA_ASSIGNMENT, "The manual partition assignment includes an empty replica list."
    previous = None
    for broker_id in sorted(replicas):
        if broker_id != broker.node_id:
            return (ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                    f"The manual partition assignment includes broker {broker_id}, but no such broker is registered.")
        if broker_id == previous:
            return (ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                    f"The manual partition assignment includes the broker {previous} more than once.")
        previous = broker_id
    return 0, None


async def handle(ctx: RequestContext, request: dict) -> dict:
    responses = []
    cluster = ctx.broker.cluster
    allow = request.get("allow_replication_factor_change", True) if ctx.version >= 1 else True
    for topic in request["topics"]:
        partitions = []
        for p in topic["partitions"]:
            if cluster is not None:
                code, message = await reassignment.alter(cluster, topic["name"], p["partition_index"],
                                                         p["replicas"], allow_rf_change=allow)
            else:
                code, message = _check(ctx, topic["name"], p["partition_index"], p["replicas"])
            partitions.append({"partition_index": p["partition_index"], "error_code": code, "error_message": message})
        responses.append({"name": topic["name"], "partitions": partitions})
    return {"throttle_time_ms": 0, "allow_replication_factor_change": request.get("allow_replication_factor_change", True),
            "error_code": 0, "error_message": None, "responses": responses}
