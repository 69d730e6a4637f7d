"""ListOffsets (2), v0–10: earliest (-2), latest (-1), max timestamp (-3), earliest local (-4), by timestamp.

Latest is the high watermark, or the last stable offset for read_committed (v2+); a timestamp lookup under
read_committed finds nothing at or beyond the last stable offset, as in Kafka. v0 answers with a list of
old-style offsets.
"""
from __future__ import annotations

from kbroker.handlers._authz import Operation, ResourceType, allowed
from kbroker.partition import READ_COMMITTED, Partition
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode, KafkaError

KEY, MIN, MAX = 2, 0, 10

LATEST, EARLIEST, MAX_TIMESTAMP, EARLIEST_LOCAL, LATEST_TIERED = -1, -2, -3, -4, -5


def _lookup(part: Partition, timestamp: int, isolation: int) -> tuple[int, int]:
    """(timestamp, offset) answering one partition's ListOffsets entry; (-1, -1) when nothing qualifies."""
    log = part.log
    if timestamp == LATEST:
        return -1, part.last_stable_offset if isolation == READ_COMMITTED else part.high_watermark
    if timestamp in (EARLIEST, EARLIEST_LOCAL):
        return -1, log.log_start_offset
    if timestamp == LATEST_TIERED:
        return -1, -1
    if timestamp == MAX_TIMESTAMP:
        found = log.max_timestamp()
    elif timestamp < 0:
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"unknown special timestamp {timestamp}")
    else:
        found = log.offset_for_timestamp(timestamp)
    fetchable = part.last_stable_offset if isolation == READ_COMMITTED else part.high_watermark
    if found is None or found[0] >= fetchable:
        return -1, -1
    return found[1], found[0]


async def handle(ctx: RequestContext, request: dict) -> dict:
    isolation = request["isolation_level"]
    topics = []
    for topic in request["topics"]:
        partitions = []
        may_describe = allowed(ctx, Operation.DESCRIBE, ResourceType.TOPIC, topic["name"])
        for p in topic["partitions"]:
            entry = {"partition_index": p["partition_index"], "error_code": 0, "old_style_offsets": [],
                     "timestamp": -1, "offset": -1, "leader_epoch": -1}
            try:
                if not may_describe:
                    raise KafkaError(ErrorCode.TOPIC_AUTHORIZATION_FAILED)
                part = ctx.broker.partition(topic["name"], p["partition_index"])
                if part is None:
                    raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
                part.check_leader_epoch(p["current_leader_epoch"])
                ts, offset = _lookup(part, p["timestamp"], isolation)
                entry.update(timestamp=ts, offset=offset)
                if offset >= 0:
                    entry["leader_epoch"] = part.leader_epoch
                    entry["old_style_offsets"] = [offset]
            except KafkaError as exc:
                entry["error_code"] = exc.code
            partitions.append(entry)
        topics.append({"name": topic["name"], "partitions": partitions})
    return {"throttle_time_ms": 0, "topics": topics}
