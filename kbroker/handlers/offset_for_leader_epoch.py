"""OffsetForLeaderEpoch (23), v0–4: the end offset of a leader epoch, from the partition's leader epoch cache.

Consumers (replica_id -1) use it after a leader change to detect truncation. current_leader_epoch (v2+) is
checked as for fetches (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH). An epoch the cache does not know gives
epoch -1 and offset -1 with no error, as Kafka; the current epoch ends at the log end offset.
"""
from __future__ import annotations

from kbroker.handlers._authz import Operation, ResourceType, allowed
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode, KafkaError

KEY, MIN, MAX = 23, 0, 4


async def handle(ctx: RequestContext, request: dict) -> dict:
    broker = ctx.broker
    topics = []
    for topic in request["topics"]:
        partitions = []
        for p in topic["partitions"]:
            entry = {"error_code": 0, "partition": p["partition"], "leader_epoch": -1, "end_offset": -1}
            part = broker.partition(topic["topic"], p["partition"])
            try:
                if not allowed(ctx, Operation.DESCRIBE, ResourceType.TOPIC, topic["topic"]):
                    raise KafkaError(ErrorCode.TOPIC_AUTHORIZATION_FAILED)  # Kafka: DESCRIBE on the topic
                if part is None:
                    raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
                part.check_leader_epoch(p.get("current_leader_epoch", -1))
                epoch, end = part.log.end_offset_for_epoch(p["leader_epoch"])
                entry["leader_epoch"], entry["end_offset"] = epoch, end
            except KafkaError as exc:
                entry["error_code"] = int(exc.code)
            partitions.append(entry)
        topics.append({"topic": topic["topic"], "partitions": partitions})
    return {"throttle_time_ms": 0, "topics": topics}
