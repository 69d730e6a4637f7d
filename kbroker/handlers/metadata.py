"""Metadata (3), v0–13: brokers, controller, cluster id, and topics with their partitions.

Topics requested by name that do not exist are created when both the broker (auto.create.topics.enable) and the
request (v4+ allow_auto_topic_creation) allow it. Creation is synchronous here, so the new topic is answered at
once with its partitions instead of Kafka's transient LEADER_NOT_AVAILABLE.

With an authorizer (as Kafka): listing all topics shows only those the principal may DESCRIBE; a named topic it may
not describe answers TOPIC_AUTHORIZATION_FAILED, and auto-creation needs CREATE on the cluster or the topic. The
brokers are those of the listener the client came through.
"""
from __future__ import annotations

from kbroker.handlers._authz import Operation, ResourceType, allowed, allowed_cluster, authorized_ops, enabled
from kbroker.cluster import view
from kbroker.metadata import TopicInfo
from kbroker.handlers._util import CLUSTER_OPERATIONS, NOT_REQUESTED, TOPIC_OPERATIONS
from kbroker.handlers import _endpoints as endpoints
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode, KafkaError

KEY, MIN, MAX = 3, 0, 13

NO_UUID = bytes(16)


def topic_entry(ctx: RequestContext, info: TopicInfo, include_ops: bool) -> dict:
    broker = ctx.broker
    partitions = []
    for index in range(info.partitions):
        p = view.partition(broker, info.name, index)
        partitions.append(
            {
                "error_code": p.error_code,
                "partition_index": index,
                "leader_id": p.leader,
                "leader_epoch": p.leader_epoch,
                "replica_nodes": p.replicas,
                "isr_nodes": p.isr,
                "offline_replicas": p.offline,
            }
        )
    return {
        "error_code": 0,
        "name": info.name,
        "topic_id": info.topic_id,
        "is_internal": info.internal,
        "partitions": partitions,
        "topic_authorized_operations": (authorized_ops(ctx, ResourceType.TOPIC, info.name) if enabled(ctx)
                                        else TOPIC_OPERATIONS) if include_ops else NOT_REQUESTED,
    }


def _denied(name: str) -> dict:
    return {"error_code": ErrorCode.TOPIC_AUTHORIZATION_FAILED, "name": name, "topic_id": NO_UUID,
            "is_internal": False, "partitions": [], "topic_authorized_operations": NOT_REQUESTED}


def _may_create(ctx: RequestContext, name: str) -> bool:
    return allowed_cluster(ctx, Operation.CREATE) or allowed(ctx, Operation.CREATE, ResourceType.TOPIC, name)


def _cluster_ops(ctx: RequestContext) -> int:
    if not enabled(ctx):
        return CLUSTER_OPERATIONS
    return authorized_ops(ctx, ResourceType.CLUSTER, "kafka-cluster") if allowed_cluster(
        ctx, Operation.DESCRIBE) else 0


async def _auto_create(broker, name: str) -> TopicInfo | None:  # type: ignore[no-untyped-def]
    if broker.cluster is None:
        return broker.auto_create_topic(name)
    partitions, rf, configs = broker.check_new_topic(name, -1, -1, {})
    try:  # in a cluster the leaders come a moment later; the client retries on LEADER_NOT_AVAILABLE
        await broker.cluster.create_topic(name, partitions, rf, configs, timeout=1.0)
    except KafkaError as exc:
        if exc.code != ErrorCode.TOPIC_ALREADY_EXISTS:
            raise
    return broker.topic(name)


async def handle(ctx: RequestContext, request: dict) -> dict:
    broker = ctx.broker
    version = ctx.version
    include_ops = bool(request.get("include_topic_authorized_operations"))
    requested = request["topics"]
    topics: list[dict] = []
    if requested is None or (version == 0 and not requested):
        topics = [topic_entry(ctx, info, include_ops) for info in broker.metadata.topics.values()
                  if allowed(ctx, Operation.DESCRIBE, ResourceType.TOPIC, info.name)]
    else:
        allow_create = broker.config["auto.create.topics.enable"] and request.get("allow_auto_topic_creation", True)
        seen: set[str] = set()
        for item in requested:
            name = item.get("name")
            topic_id = item.get("topic_id") or NO_UUID
            if name is None and topic_id != NO_UUID:
                info = broker.metadata.by_id.get(topic_id)
                if info is None:
                    topics.append({"error_code": ErrorCode.UNKNOWN_TOPIC_ID, "name": None, "topic_id": topic_id,
                                   "partitions": [], "topic_authorized_operations": NOT_REQUESTED})
                    continue
                name = info.name
            if name is None or name in seen:
                continue
            seen.add(name)
            if not allowed(ctx, Operation.DESCRIBE, ResourceType.TOPIC, name):
                topics.append(_denied(name))
                continue
            info = broker.topic(name)
            if info is None and allow_create and not _may_create(ctx, name):
                topics.append(_denied(name))
                continue
            if info is None and allow_create:
                try:
                    info = await _auto_create(broker, name)
                except KafkaError as exc:
                    topics.append({"error_code": exc.code, "name": name, "partitions": [],
                                   "topic_authorized_operations": NOT_REQUESTED})
                    continue
            if info is None:
                topics.append({"error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "name": name, "partitions": [],
                               "topic_authorized_operations": NOT_REQUESTED})
                continue
            topics.append(topic_entry(ctx, info, include_ops))
    return {
        "throttle_time_ms": 0,
        "brokers": [{"node_id": n.node_id, "host": n.host, "port": n.port, "rack": n.rack}
                    for n in endpoints.brokers(ctx)],
        "cluster_id": broker.metadata.cluster_id,
        "controller_id": view.controller_id(broker),
        "topics": topics,
        "cluster_authorized_operations": _cluster_ops(ctx)
        if request.get("include_cluster_authorized_operations")
        else NOT_REQUESTED,
        "error_code": 0,
    }
