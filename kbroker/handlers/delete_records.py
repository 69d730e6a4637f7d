"""DeleteRecords (21), v0–2: move each partition's log start offset up (offset -1: to the high watermark).

The answer's low_watermark is the new log start offset; fetching below it then gets OFFSET_OUT_OF_RANGE and
ListOffsets(earliest) returns it. Beyond the high watermark: OFFSET_OUT_OF_RANGE; a topic compacted without the
delete policy: POLICY_VIOLATION (Kafka's rule). A single broker has no followers to wait for, so timeout_ms
never matters.
"""
from __future__ import annotations

from kbroker.handlers._authz import Operation, ResourceType, allowed
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode, KafkaError

KEY, MIN, MAX = 21, 0, 2


async def handle(ctx: RequestContext, request: dict) -> dict:
    broker = ctx.broker
    topics = []
    for topic in request["topics"]:
        partitions = []
        for p in topic["partitions"]:
            entry = {"partition_index": p["partition_index"], "low_watermark": -1, "error_code": 0}
            try:
                if not allowed(ctx, Operation.DELETE, ResourceType.TOPIC, topic["name"]):  # Kafka: DELETE on the topic
                    raise KafkaError(ErrorCode.TOPIC_AUTHORIZATION_FAILED)
                entry["low_watermark"] = broker.delete_records(topic["name"], p["partition_index"], p["offset"])
            except KafkaError as exc:
                entry["error_code"] = int(exc.code)
            partitions.append(entry)
        topics.append({"name": topic["name"], "partitions": partitions})
    return {"throttle_time_ms": 0, "topics": topics}
