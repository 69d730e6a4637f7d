"""DescribeTopicPartitions (75), v0: topics with their partitions, paged (response_partition_limit, at most
the broker's max.request.partition.size.limit, 2000 by default, and a cursor), as the Java admin client's
describeTopics uses it.

No topics requested means all topics (sorted by name, from the cursor's topic on, unknown ones never
reported); named topics that do not exist get UNKNOWN_TOPIC_OR_PARTITION (or INVALID_TOPIC_EXCEPTION).
eligible_leader_replicas and last_known_elr are empty lists, never null (the Java client dereferences them).
"""
from __future__ import annotations

from kbroker.cluster import view
from kbroker.handlers._util import TOPIC_OPERATIONS
from kbroker.metadata import INTERNAL_TOPICS, validate_topic_name
from kbroker.handlers._authz import Operation, ResourceType, allowed
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode, KafkaError

KEY, MIN, MAX = 75, 0, 0

NO_UUID = bytes(16)


def _partition(ctx: RequestContext, topic: str, index: int) -> dict:
    p = view.partition(ctx.broker, topic, index)
    return {"error_code": p.error_code, "partition_index": index, "leader_id": p.leader,
            "leader_epoch": p.leader_epoch, "replica_nodes": p.replicas, "isr_nodes": p.isr,
            "eligible_leader_replicas": [], "last_known_elr": [], "offline_replicas": p.offline}


async def handle(ctx: RequestContext, request: dict) -> dict:
    broker = ctx.broker
    cursor = request.get("cursor")
    cursor_topic = cursor["topic_name"] if cursor else ""
    fetch_all = not request["topics"]
    if fetch_all:
        names = sorted(n for n in broker.metadata.topics if n >= cursor_topic)
    else:
        names = sorted({t["name"] for t in request["topics"] if t["name"] >= cursor_topic})
        if cursor is not None and cursor_topic not in names:
            return _error(request)
    if cursor is not None and cursor["partition_index"] < 0:
        return _error(request)
    limit = broker.config.get("max.request.partition.size.limit") or 2000
    remaining = max(min(limit, request["response_partition_limit"]), 1)
    topics: list[dict] = []
    next_cursor = None
    describable = lambda n: allowed(ctx, Operation.DESCRIBE, ResourceType.TOPIC, n)  # noqa: E731
    if fetch_all:  # Kafka: the topics the principal may not DESCRIBE are left out
        names = [n for n in names if describable(n)]
    for name in names:
        if not describable(name):
            topics.append({"error_code": ErrorCode.TOPIC_AUTHORIZATION_FAILED, "name": name, "topic_id": NO_UUID,
                           "is_internal": False, "partitions": [], "topic_authorized_operations": 0})
            continue
        if remaining <= 0:
            next_cursor = {"topic_name": name, "partition_index": 0}
            break
        info = broker.topic(name)
        if info is None:
            if not fetch_all:
                try:
                    validate_topic_name(name)
                    code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                except KafkaError:
                    code = ErrorCode.INVALID_TOPIC_EXCEPTION
                topics.append({"error_code": code, "name": name, "topic_id": NO_UUID,
                               "is_internal": name in INTERNAL_TOPICS, "partitions": [],
                               "topic_authorized_operations": TOPIC_OPERATIONS})
            continue
        start = cursor["partition_index"] if cursor and name == cursor_topic else 0
        upper = min(info.partitions, start + remaining)
        partitions = [_partition(ctx, name, i) for i in range(start, upper)]
        topics.append({"error_code": 0, "name": name, "topic_id": info.topic_id, "is_internal": info.internal,
                       "partitions": partitions, "topic_authorized_operations": TOPIC_OPERATIONS})
        if upper < info.partitions:
            next_cursor = {"topic_name": name, "partition_index": upper}
            break
        remaining -= len(partitions)
    return {"throttle_time_ms": 0, "topics": topics, "next_cursor": next_cursor}


def _error(request: dict) -> dict:
    """Kafka's answer to a request it refuses (a cursor outside the topics asked for, a negative cursor
    partition): INVALID_REQUEST on every topic asked for (DescribeTopicPartitionsRequest.getErrorResponse)."""
    return {"throttle_time_ms": 0, "next_cursor": None,
            "topics": [{"error_code": ErrorCode.INVALID_REQUEST, "name": t["name"], "topic_id": NO_UUID,
                        "is_internal": False, "partitions": []} for t in request["topics"]]}
