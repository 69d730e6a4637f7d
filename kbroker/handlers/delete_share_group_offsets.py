"""DeleteShareGroupOffsets (92), v0: forget a share group's state for whole topics (KIP-932).

The group must exist (GROUP_ID_NOT_FOUND) and have no members (NON_EMPTY_GROUP). The next fetch of such a
partition starts again from share.auto.offset.reset.
"""
from __future__ import annotations

from kbroker.coordinator.share import share_coordinator
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 92, 0, 0


async def handle(ctx: RequestContext, request: dict) -> dict:
    coord = share_coordinator(ctx.broker)
    group_id = request["group_id"]
    base = {"throttle_time_ms": 0, "responses": []}
    if not coord.is_share_group(group_id):
        return {**base, "error_code": ErrorCode.GROUP_ID_NOT_FOUND, "error_message": f"Group {group_id} not found."}
    if coord.groups[group_id].members:
        return {**base, "error_code": ErrorCode.NON_EMPTY_GROUP,
                "error_message": f"Share group {group_id} is not empty."}
    responses = []
    for topic in request["topics"]:
        info = ctx.broker.topic(topic["topic_name"])
        if info is None:
            responses.append({"topic_name": topic["topic_name"], "topic_id": bytes(16),
                              "partitions": [{"partition_index": 0, "error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                                              "error_message": "This server does not host this topic."}]})
            continue
        deleted = coord.delete_offsets(group_id, info.topic_id)
        responses.append({"topic_name": topic["topic_name"], "topic_id": info.topic_id,
                          "partitions": [{"partition_index": i, "error_code": 0} for i in deleted]})
    return {**base, "error_code": 0, "responses": responses}
