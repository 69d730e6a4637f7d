"""Fetch (1), v0–18: consumer fetches, with long poll, byte limits, HW / LSO / log start offset.

Fetch sessions (KIP-227) are declined: the answer always carries session id 0, so clients stay on full
fetches. v0–3 get the legacy message format their version implies (magic 0 for v0–1, 1 for v2–3); v13+ names
topics by id.
"""
from __future__ import annotations

from kbroker.cluster import view
from kbroker.fetching import PartitionRead, fetch
from kbroker.handlers._authz import Operation, ResourceType, allowed, allowed_cluster
from kbroker.partition import READ_LOG_END
from kbroker.server.context import CloseConnection, RequestContext
from wire.errors import ErrorCode
from wire.records import iter_batches

KEY, MIN, MAX = 1, 0, 18

NO_UUID = bytes(16)
ZSTD = 4


def _session_error(request: dict) -> int:
    """Epoch -1 or 0 is a full fetch whatever the session id (Kafka closes that session); any other epoch names
    a session to continue, and this broker keeps none."""
    return 0 if request["session_epoch"] in (-1, 0) else ErrorCode.FETCH_SESSION_ID_NOT_FOUND


def _legacy(records: bytes | memoryview, version: int) -> bytes:
    from wire.legacy import v2_to_legacy

    return v2_to_legacy(bytes(records), 0 if version <= 1 else 1) if records else b""


def _may_read(ctx: RequestContext, request: dict, topic: str) -> bool:
    """Kafka: a follower (replica id >= 0) needs CLUSTER_ACTION on the cluster, a consumer READ on the topic."""
    replica = request.get("replica_id", -1)
    if replica is None or replica < 0:
        replica = (request.get("replica_state") or {}).get("replica_id", -1)
    if replica is not None and replica >= 0:
        return allowed_cluster(ctx, Operation.CLUSTER_ACTION)
    return allowed(ctx, Operation.READ, ResourceType.TOPIC, topic)


async def handle(ctx: RequestContext, request: dict) -> dict:
    broker = ctx.broker
    version = ctx.version
    error = _session_error(request)
    if error:
        return {"throttle_time_ms": 0, "error_code": error, "session_id": 0, "responses": []}
    reads: list[PartitionRead] = []
    topics: list[tuple[dict, list[PartitionRead]]] = []
    for topic in request["topics"]:
        name = topic["topic"]
        if version >= 13:
            info = broker.metadata.by_id.get(topic["topic_id"])
            name = info.name if info else None
        group = [
            PartitionRead(name or "", p["partition"], p["fetch_offset"], p["partition_max_bytes"],
                          p["current_leader_epoch"])
            for p in topic["partitions"]
        ]
        if name is None:
            for r in group:
                r.error_code = ErrorCode.UNKNOWN_TOPIC_ID
        elif not _may_read(ctx, request, name):
            for r in group:
                r.error_code = ErrorCode.TOPIC_AUTHORIZATION_FAILED
        else:
            reads.extend(group)
        topics.append((topic, group))
    isolation = request["isolation_level"]
    state = request.get("replica_state") or {}
    replica_id = request["replica_id"] if version <= 14 else state.get("replica_id", -1)
    replica_epoch = state.get("replica_epoch", -1) if version >= 15 else -1
    cluster = broker.cluster
    if replica_id is not None and replica_id >= 0 and cluster is not None:
        # a follower's fetch: read up to the log end; its fetch offsets tell the leader what it holds
        if not cluster.network.can_reach(replica_id, broker.node_id):
            raise CloseConnection(f"broker {replica_id} is cut off from broker {broker.node_id}")
        isolation = READ_LOG_END
        for r in reads:
            cluster.replicas.follower_fetched(replica_id, r.topic, r.index, r.fetch_offset, r.current_leader_epoch,
                                              replica_epoch)
    max_bytes = request["max_bytes"] if version >= 3 else 2**31 - 1
    max_bytes = min(max_bytes, broker.config["fetch.max.bytes"], broker.quotas.fetch_max_bytes(ctx.header.client_id))
    await fetch(broker, reads, max_bytes=max_bytes, min_bytes=request["min_bytes"],
                max_wait_ms=request["max_wait_ms"], isolation=isolation)
    fetched = sum(len(r.records) for r in reads)
    throttle_ms = broker.quotas.record_fetch(ctx.header.client_id, fetched) if fetched else 0
    if throttle_ms:  # as Kafka: a throttled fetch is answered with no partitions (what was read is not counted)
        return {"throttle_time_ms": throttle_ms, "error_code": 0, "session_id": 0, "responses": []}
    if version < 10:  # as Kafka: zstd batches cannot go to a client that may not read them
        for r in reads:
            if r.records and any(h.compression == ZSTD for _, h in iter_batches(r.records)):
                r.error_code, r.records = ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, b""
    responses = []
    leaders: set[int] = set()
    for topic, group in topics:
        partitions = []
        for r in group:
            records = _legacy(r.records, version) if version < 4 and r.records else r.records
            partitions.append({
                "partition_index": r.index,
                "error_code": r.error_code,
                "high_watermark": r.high_watermark,
                "last_stable_offset": r.last_stable_offset,
                "log_start_offset": r.log_start_offset,
                "aborted_transactions": r.aborted,
                "preferred_read_replica": -1,
                "records": records,
            })
            if r.error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER and cluster is not None:  # KIP-951
                partitions[-1]["current_leader"] = view.current_leader(broker, r.topic, r.index)
                leaders.add(partitions[-1]["current_leader"]["leader_id"])
        responses.append({"topic": topic["topic"], "topic_id": topic.get("topic_id", NO_UUID), "partitions": partitions})
    response = {"throttle_time_ms": throttle_ms, "error_code": 0, "session_id": 0, "responses": responses}
    if leaders and version >= 16:
        response["node_endpoints"] = [{"node_id": n.node_id, "host": n.host, "port": n.port, "rack": n.rack}
                                      for n in view.brokers(broker) if n.node_id in leaders]
    return response
