"""CreatePartitions (37), v0–3: grow a topic's partition count (never shrink), optionally only validating."""
from __future__ import annotations

from collections import Counter

from kbroker.handlers._util import error_of
from kbroker.handlers._authz import Operation, ResourceType, allowed
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode, KafkaError

KEY, MIN, MAX = 37, 0, 3


async def handle(ctx: RequestContext, request: dict) -> dict:
    broker = ctx.broker
    counts = Counter(t["name"] for t in request["topics"])
    results = []
    for topic in request["topics"]:
        entry = {"name": topic["name"], "error_code": 0, "error_message": None}
        try:
            if counts[topic["name"]] > 1:
                raise KafkaError(ErrorCode.INVALID_REQUEST, "Duplicate topic in request.")
            if not allowed(ctx, Operation.ALTER, ResourceType.TOPIC, topic["name"]):  # Kafka: ALTER on the topic
                raise KafkaError(ErrorCode.TOPIC_AUTHORIZATION_FAILED, "Authorization failed.")
            info = broker.topic(topic["name"])
            assignments = topic["assignments"]
            if info is not None and assignments is not None:
                if len(assignments) != topic["count"] - info.partitions:
                    raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                     f"Increasing the number of partitions by {topic['count'] - info.partitions} but "
                                     f"{len(assignments)} assignments provided.")
                if broker.cluster is None and any(a["broker_ids"] != [broker.node_id] for a in assignments):
                    raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT, "Assignments may only name this broker.")
            if broker.cluster is not None:
                broker.add_partitions(topic["name"], topic["count"], validate_only=True)
                explicit = None
                if assignments is not None:
                    live = set(broker.cluster.md.brokers)
                    for a in assignments:
                        unknown = [b for b in a["broker_ids"] if b not in live]
                        if unknown or not a["broker_ids"] or len(set(a["broker_ids"])) != len(a["broker_ids"]):
                            raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                             f"Invalid replica assignment {a['broker_ids']}: brokers must be "
                                             "registered and named once.")
                    explicit = [list(a["broker_ids"]) for a in assignments]
                if not request["validate_only"]:
                    await broker.cluster.add_partitions(topic["name"], topic["count"], explicit)
            else:
                broker.add_partitions(topic["name"], topic["count"], validate_only=request["validate_only"])
        except KafkaError as exc:
            entry["error_code"], entry["error_message"] = error_of(exc)
        results.append(entry)
    return {"throttle_time_ms": 0, "results": results}
