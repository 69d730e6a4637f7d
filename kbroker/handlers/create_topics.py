"""CreateTopics (19), v0–7: validate each topic, create it unless validate_only, report what it got (v5+).

Explicit replica assignments are accepted when they name only this broker, one replica per partition.
"""
from __future__ import annotations

from collections import Counter

from kbroker.handlers._util import error_of
from kbroker.handlers._authz import Operation, ResourceType, allowed
from kbroker.server.context import RequestContext
from kbroker.topic_config import describe_topic
from wire.errors import ErrorCode, KafkaError

KEY, MIN, MAX = 19, 0, 7


def _assignment_partitions(ctx: RequestContext, topic: dict) -> tuple[int, int, dict[int, list[int]]]:
    """(partitions, replication factor, assignment) of an explicit replica assignment."""
    assignments = topic["assignments"]
    if topic["num_partitions"] != -1 or topic["replication_factor"] != -1:
        raise KafkaError(ErrorCode.INVALID_REQUEST,
                         "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.")
    indexes = sorted(a["partition_index"] for a in assignments)
    if indexes != list(range(len(indexes))):
        raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT, "Partitions must be numbered from 0 without gaps.")
    cluster = ctx.broker.cluster
    live = set(cluster.md.brokers) if cluster is not None else {ctx.broker.node_id}
    sizes = {len(a["broker_ids"]) for a in assignments}
    for a in assignments:
        ids = a["broker_ids"]
        if cluster is None and ids != [ctx.broker.node_id]:
            raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                             f"Replica assignment {ids} names brokers other than the only one, {ctx.broker.node_id}.")
        if not ids or len(set(ids)) != len(ids) or len(sizes) != 1:
            raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                             f"Duplicate brokers not allowed in replica assignment: {ids} for partition id "
                             f"{a['partition_index']}." if ids and len(set(ids)) != len(ids) else
                             "All partitions should have the same number of replicas")
        unknown = [b for b in ids if b not in live]
        if unknown:
            raise KafkaError(ErrorCode.BROKER_NOT_AVAILABLE, f"Unknown broker(s) in replica assignment: {unknown}")
    return len(indexes), sizes.pop(), {a["partition_index"]: list(a["broker_ids"]) for a in assignments}


def _described_configs(ctx: RequestContext, configs: dict[str, str]) -> list[dict]:
    return [{k: c[k] for k in ("name", "value", "read_only", "config_source", "is_sensitive")}
            for c in describe_topic(configs, ctx.broker.config, include_synonyms=False, include_docs=False)]


async def handle(ctx: RequestContext, request: dict) -> dict:
    broker = ctx.broker
    counts = Counter(t["name"] for t in request["topics"])
    results = []
    for topic in request["topics"]:
        name = topic["name"]
        entry = {"name": name, "error_code": 0, "error_message": None, "num_partitions": -1,
                 "replication_factor": -1, "configs": None}
        try:
            if not (allowed(ctx, Operation.CREATE, ResourceType.CLUSTER, "kafka-cluster")
                    or allowed(ctx, Operation.CREATE, ResourceType.TOPIC, name)):
                raise KafkaError(ErrorCode.TOPIC_AUTHORIZATION_FAILED, "Authorization failed.")
            if counts[name] > 1:
                raise KafkaError(ErrorCode.INVALID_REQUEST, "Create topics request from client contains a duplicate topic name")
            num_partitions, replication_factor = topic["num_partitions"], topic["replication_factor"]
            assignment = None
            if topic["assignments"]:
                num_partitions, replication_factor, assignment = _assignment_partitions(ctx, topic)
            configs = {c["name"]: c["value"] for c in topic["configs"]}
            num_partitions, replication_factor, clean = broker.check_new_topic(
                name, num_partitions, replication_factor, configs)
            if request["validate_only"]:
                topic_id = bytes(16)
            elif broker.cluster is not None:
                topic_id = await broker.cluster.create_topic(name, num_partitions, replication_factor, clean,
                                                             assignment=assignment,
                                                             timeout=max(request["timeout_ms"], 0) / 1000 or 10.0)
            else:
                topic_id = broker.create_topic(name, num_partitions, clean).topic_id
            entry.update(topic_id=topic_id, num_partitions=num_partitions, replication_factor=replication_factor,
                         configs=_described_configs(ctx, clean))
        except KafkaError as exc:
            entry["error_code"], entry["error_message"] = error_of(exc)
        results.append(entry)
    return {"throttle_time_ms": 0, "topics": results}
