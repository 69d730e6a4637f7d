"""WriteTxnMarkers (27), v1: write COMMIT/ABORT markers into partitions this broker leads.

Kafka's coordinators send it to partition leaders; kbroker's own coordinator writes its markers directly, so
here it serves admin clients aborting a hanging transaction (KIP-664 `abortTransaction`, with the producer id,
epoch and coordinator epoch DescribeProducers reported). A marker with an older producer epoch than the partition
knows gets INVALID_PRODUCER_EPOCH, one with an older coordinator epoch TRANSACTION_COORDINATOR_FENCED; unknown
partitions UNKNOWN_TOPIC_OR_PARTITION. Kafka 4 removed v0.
"""
from __future__ import annotations

from kbroker.broker import now_ms
from kbroker.coordinator.transactions import transaction_coordinator
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode, KafkaError

KEY, MIN, MAX = 27, 1, 1


async def handle(ctx: RequestContext, request: dict) -> dict:
    broker = ctx.broker
    coordinator = transaction_coordinator(broker)
    markers = []
    for marker in request["markers"]:
        commit = bool(marker["transaction_result"])
        topics = []
        for topic in marker["topics"]:
            partitions = []
            for index in topic["partition_indexes"]:
                part = broker.partition(topic["name"], index)
                error = 0
                if part is None:
                    error = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                else:
                    try:
                        part.write_txn_marker(commit, producer_id=marker["producer_id"],
                                              producer_epoch=marker["producer_epoch"],
                                              coordinator_epoch=marker["coordinator_epoch"], now_ms=now_ms())
                        coordinator.on_marker_written(marker["producer_id"], commit, topic["name"])
                    except KafkaError as exc:
                        error = exc.code
                partitions.append({"partition_index": index, "error_code": int(error)})
            topics.append({"name": topic["name"], "partitions": partitions})
        markers.append({"producer_id": marker["producer_id"], "topics": topics})
    return {"markers": markers}
