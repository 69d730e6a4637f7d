"""ElectLeaders (43), v0–2: preferred or unclean leader elections.

With one broker every partition already has its preferred (and only) leader: named partitions get
ELECTION_NOT_NEEDED (or UNKNOWN_TOPIC_OR_PARTITION). In a cluster the election is made (kbroker.cluster.elections):
PREFERRED_LEADER_NOT_AVAILABLE when the preferred replica is down or out of the ISR, ELIGIBLE_LEADERS_NOT_AVAILABLE
for an unclean election with no live replica. topic_partitions null means all partitions, and then, as Kafka's
controller does, partitions needing no election are left out. v0 has no election_type (preferred).
"""
from __future__ import annotations

from kbroker.handlers._authz import Operation, allowed_cluster
from kbroker.cluster import elections
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
    cluster = broker.cluster
    if request["topic_partitions"] is None:
        for name, info in list(broker.metadata.topics.items()):
            partitions = []
            for index in range(info.partitions):
                if cluster is not None and (election == UNCLEAN or elections.needs_preferred(cluster.md, name, index)):
                    code, message = await elections.elect(cluster, name, index, election)
                    if code != ErrorCode.ELECTION_NOT_NEEDED:
                        partitions.append({"partition_id": index, "error_code": code, "error_message": message})
            results.append({"topic": name, "partition_result": partitions})
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
                elif cluster is not None:
                    code, message = await elections.elect(cluster, name, index, election)
                else:
                    code, message = ErrorCode.ELECTION_NOT_NEEDED, NOT_NEEDED
                partitions.append({"partition_id": index, "error_code": code, "error_message": message})
            results.append({"topic": name, "partition_result": partitions})
    return {"throttle_time_ms": 0, "error_code": 0, "replica_election_results": results}
