"""DescribeProducers (61), v0: the active idempotent and transactional producers of partitions (KIP-664): producer
id and epoch, last sequence and timestamp, coordinator epoch, and the first offset of the open transaction (-1
when none), as the partition's producer state holds them. Unknown partitions get UNKNOWN_TOPIC_OR_PARTITION.
"""
from __future__ import annotations

from kbroker.handlers._authz import Operation, ResourceType, allowed
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 61, 0, 0


async def handle(ctx: RequestContext, request: dict) -> dict:
    broker = ctx.broker
    topics = []
    for topic in request["topics"]:
        partitions = []
        for index in topic["partition_indexes"]:
            part = broker.partition(topic["name"], index)
            if not allowed(ctx, Operation.READ, ResourceType.TOPIC, topic["name"]):  # Kafka: READ on the topic
                partitions.append({"partition_index": index, "error_code": int(ErrorCode.TOPIC_AUTHORIZATION_FAILED),
                                   "error_message": None, "active_producers": []})
                continue
            if part is None:
                partitions.append({"partition_index": index, "error_code": int(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
                                   "error_message": None, "active_producers": []})
                continue
            producers = []
            for pid, entry in sorted(part.log.producer_state.producers.items()):
                producers.append({
                    "producer_id": pid,
                    "producer_epoch": entry.producer_epoch,
                    "last_sequence": entry.last_seq,
                    "last_timestamp": entry.last_timestamp,
                    "coordinator_epoch": entry.coordinator_epoch,
                    "current_txn_start_offset": -1 if entry.current_txn_first_offset is None
                    else entry.current_txn_first_offset,
                })
            partitions.append({"partition_index": index, "error_code": 0, "error_message": None,
                               "active_producers": producers})
        topics.append({"name": topic["name"], "partitions": partitions})
    return {"throttle_time_ms": 0, "topics": topics}
