"""AlterShareGroupOffsets (91), v0: set share-partition start offsets (KIP-932).

Only while the group has no members (NON_EMPTY_GROUP otherwise); a group that does not exist yet is created, as
kafka-share-groups --reset-offsets expects. The share-partition starts again at the offset, nothing in flight.
"""
from __future__ import annotations

from kbroker.coordinator.share import share_coordinator
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 91, 0, 0


async def handle(ctx: RequestContext, request: dict) -> dict:
    coord = share_coordinator(ctx.broker)
    group_id = request["group_id"]
    coord.ready()
    group = coord.groups.get(group_id)
    group_error = 0
    if not group_id:
        group_error = ErrorCode.INVALID_GROUP_ID
    elif group is not None and group.members:
        group_error = ErrorCode.NON_EMPTY_GROUP
    elif coord._other_group_type(group_id):
        group_error = ErrorCode.GROUP_ID_NOT_FOUND
    responses = []
    for topic in request["topics"]:
        info = ctx.broker.topic(topic["topic_name"])
        parts = []
        for p in topic["partitions"]:
            index, code = p["partition_index"], group_error
            partition = ctx.broker.partition(info.name, index) if info is not None else None
            if not code and partition is None:
                code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            elif not code and not partition.log.log_start_offset <= p["start_offset"] <= partition.high_watermark:
                code = ErrorCode.INVALID_REQUEST
            if not code:
                code = coord.alter_offset(group_id, info.topic_id, index, p["start_offset"], partition)
            parts.append({"partition_index": index, "error_code": code})
        responses.append({"topic_name": topic["topic_name"],
                          "topic_id": info.topic_id if info is not None else bytes(16), "partitions": parts})
    return {"throttle_time_ms": 0, "responses": responses}
