"""AlterShareGroupOffsets (91), v0: set share-partition start offsets (KIP-932).

Only while the group has no members; a group that does not exist yet is created, as kafka-share-groups
--reset-offsets expects. Group errors (INVALID_GROUP_ID, NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND for a group of
another type) are the top-level ErrorCode of Kafka 4.1+, with no topics; per-partition errors stay per partition.
The share-partition starts again at the offset, nothing in flight.
"""
from __future__ import annotations

from kbroker.coordinator.share import share_coordinator
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 91, 0, 0


def _error(code: int, message: str) -> dict:
    return {"throttle_time_ms": 0, "error_code": code, "error_message": message, "responses": []}


async def handle(ctx: RequestContext, request: dict) -> dict:
    coord = share_coordinator(ctx.broker)
    if not coord.settings.enabled:
        return _error(ErrorCode.UNSUPPORTED_VERSION, "Share groups are disabled.")
    group_id = request["group_id"]
    group_error = coord.offsets_alterable(group_id)
    if group_error is not None:
        return _error(*group_error)
    responses = []
    for topic in request["topics"]:
        info = ctx.broker.topic(topic["topic_name"])
        parts = []
        for p in topic["partitions"]:
            index, code = p["partition_index"], ErrorCode.NONE
            partition = ctx.broker.partition(info.name, index) if info is not None else None
            if partition is None:
                code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            elif not partition.log.log_start_offset <= p["start_offset"] <= partition.high_watermark:
                code = ErrorCode.INVALID_REQUEST
            if not code:
                code = coord.alter_offset(group_id, info.topic_id, index, p["start_offset"], partition)
            parts.append({"partition_index": index, "error_code": code})
        responses.append({"topic_name": topic["topic_name"],
                          "topic_id": info.topic_id if info is not None else bytes(16), "partitions": parts})
    return {"throttle_time_ms": 0, "error_code": 0, "error_message": None, "responses": responses}
