"""OffsetDelete (47), v0: delete a group's committed offsets for some partitions.

The group must exist (GROUP_ID_NOT_FOUND), and be empty unless it is a consumer group; partitions of a topic the
group is subscribed to get GROUP_SUBSCRIBED_TO_TOPIC.
"""
from __future__ import annotations

from kbroker.coordinator import group_coordinator
from kbroker.handlers._authz import Operation, ResourceType, allowed
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 47, 0, 0


async def handle(ctx: RequestContext, request: dict) -> dict:
    if not allowed(ctx, Operation.DELETE, ResourceType.GROUP, request["group_id"]):  # Kafka: DELETE on the group
        return {"error_code": int(ErrorCode.GROUP_AUTHORIZATION_FAILED), "throttle_time_ms": 0, "topics": []}
    topics = [(t["name"], [p["partition_index"] for p in t["partitions"]]) for t in request["topics"]]
    error, results = group_coordinator(ctx.broker).delete_offsets(request["group_id"], topics)
    return {
        "error_code": error,
        "throttle_time_ms": 0,
        "topics": [{"name": topic, "partitions": [{"partition_index": p, "error_code": e} for p, e in rows]}
                   for topic, rows in results],
    }
