"""DescribeShareGroupOffsets (90), v0: each share-partition's start offset (KIP-932).

Topics null asks for every share-partition the group has state for; a partition without state (never fetched
by the group) answers start offset -1, as Kafka does. An unknown group is GROUP_ID_NOT_FOUND.
"""
from __future__ import annotations

from kbroker.coordinator.share import share_coordinator
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 90, 0, 0


def _group(ctx: RequestContext, group: dict) -> dict:
    coord = share_coordinator(ctx.broker)
    group_id = group["group_id"]
    entry = {"group_id": group_id, "topics": [], "error_code": 0}
    if not coord.is_share_group(group_id):
        entry.update(error_code=ErrorCode.GROUP_ID_NOT_FOUND, error_message=f"Group {group_id} not found.")
        return entry
    offsets = coord.group_offsets(group_id)
    wanted = group["topics"]
    if wanted is None:
        by_topic: dict[bytes, list[int]] = {}
        for tid, index in offsets:
            by_topic.setdefault(tid, []).append(index)
        wanted = []
        for tid, indexes in by_topic.items():
            info = coord.topic_info(tid)
            if info is not None:
                wanted.append({"topic_name": info.name, "partitions": sorted(indexes)})
    for topic in wanted:
        info = ctx.broker.topic(topic["topic_name"])
        parts = []
        for index in topic["partitions"]:
            if info is None or not 0 <= index < info.partitions:
                parts.append({"partition_index": index, "start_offset": -1, "leader_epoch": -1,
                              "error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION})
                continue
            state = offsets.get((info.topic_id, index))
            parts.append({"partition_index": index, "start_offset": state.start_offset if state else -1,
                          "leader_epoch": state.leader_epoch if state else -1, "error_code": 0})
        entry["topics"].append({"topic_name": topic["topic_name"],
                                "topic_id": info.topic_id if info is not None else bytes(16), "partitions": parts})
    return entry


async def handle(ctx: RequestContext, request: dict) -> dict:
    return {"throttle_time_ms": 0, "groups": [_group(ctx, g) for g in request["groups"]]}
