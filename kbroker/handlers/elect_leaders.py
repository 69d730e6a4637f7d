"""ElectLeaders (43), v0–2: with one broker every partition already has its preferred (and only) leader.

Named partitions get ELECTION_NOT_NEEDED (or UNKNOWN_TOPIC_OR_PARTITION); topic_partitions null means all
partitions, and then, as Kafka's controller does, partitions needing no election are left out (every topic
listed with an empty result). v0 has no election_type (preferred).
"""
from __future__ import annotations

from kbroker.handlers._authz import Operation, allowed_cluster
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 43, 0, 2

PREFERRED, UNCLEAN = 0, 1
NOT_NEEDED = "Leader election not needed for topic partition."


async def handle(ctx: RequestContext, request: dict) -> dict:
    if not allowed_cluster(ctx, Operation.ALTER):  # Kafka: ALTER on the cluster
        return {"throttle_time_ms": 0, "error_code": ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "replica_election_results": []}
    broker = ctx.broker
    election = request.get("election_type", PREFERRED) if ctx.version >= 1 else PREFERRED
    if election not in (PREFERRED, UNCLEAN):
        return {"throttle_time_ms": 0, "error_code": ErrorCode.INVALID_REQUEST, "replica_election_results": []}
    results = []
    if request["topic_partitions"] is None:
        for name in broker.metadata.topics:
            results.append({"topic": name, "partition_result": []})
    else:
        for topic in request["topic_partitions"]:
            name = topic["topic"]
            info = broker.topic(name)
            partitions = []
            for index in topic["partitions"]:
                if info is None:
                    code, message = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"No such topic as {name}"
                elif not 0 <= index < info.partitions:
                    code, message = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"No such partition as {name}-{index}"
                else:
                    code, message = ErrorCode.ELECTION_NOT_NEEDED, NOT_NEEDED
                partitions.append({"partition_id": index, "error_code": code, "error_message": message})
            results.append({"topic": name, "partition_result": partitions})
    return {"throttle_time_ms": 0, "error_code": 0, "replica_election_results": results}
