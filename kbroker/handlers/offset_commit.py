"""OffsetCommit (8), v0–9: store a group's committed offsets (and their metadata strings).

A member commits with its generation (classic) or member epoch (KIP-848); generation -1 with no member id is a
"simple" commit, accepted while the group has no members (and creating the group if needed). v1 carries a commit
timestamp (ignored, as Kafka does), v2–4 a retention time, v6+ the leader epoch, v7+ the group instance id.
Partitions of unknown topics get UNKNOWN_TOPIC_OR_PARTITION, as in Kafka.
"""
from __future__ import annotations

from kbroker.cluster import view
from kbroker.coordinator import group_coordinator
from kbroker.handlers._authz import Operation, ResourceType, allowed
from kbroker.handlers._util import offsets_to_commit
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 8, 0, 9


def _all(request: dict, error: int) -> dict:
    return {"throttle_time_ms": 0, "topics": [
        {"name": t["name"], "partitions": [{"partition_index": p["partition_index"], "error_code": int(error)}
                                           for p in t["partitions"]]} for t in request["topics"]]}


async def handle(ctx: RequestContext, request: dict) -> dict:
    broker = ctx.broker
    version = ctx.version
    if not allowed(ctx, Operation.READ, ResourceType.GROUP, request["group_id"]):  # Kafka: READ on the group
        return _all(request, ErrorCode.GROUP_AUTHORIZATION_FAILED)
    denied = [t for t in request["topics"] if not allowed(ctx, Operation.READ, ResourceType.TOPIC, t["name"])]
    errors, valid = offsets_to_commit(broker, [t for t in request["topics"] if t not in denied],
                                      with_epoch=version >= 6)
    for t in denied:
        for p in t["partitions"]:
            errors[(t["name"], p["partition_index"])] = ErrorCode.TOPIC_AUTHORIZATION_FAILED
    if valid:
        group_error, results = group_coordinator(broker).commit_offsets(
            version=version,
            group_id=request["group_id"],
            generation_id=request.get("generation_id_or_member_epoch", -1) if version >= 1 else -1,
            member_id=(request.get("member_id") or "") if version >= 1 else "",
            group_instance_id=request.get("group_instance_id") if version >= 7 else None,
            retention_time_ms=request.get("retention_time_ms", -1) if 2 <= version <= 4 else -1,
            partitions=valid,
        )
        if not group_error:  # in a cluster, answered once the offsets partition's ISR has the commit
            group_error = await view.await_group_write(broker, request["group_id"])
        for topic, partition, *_ in valid:
            errors[(topic, partition)] = group_error or results.get((topic, partition), ErrorCode.UNKNOWN_SERVER_ERROR)
    return {
        "throttle_time_ms": 0,
        "topics": [
            {"name": t["name"],
             "partitions": [{"partition_index": p["partition_index"],
                             "error_code": int(errors[(t["name"], p["partition_index"])])} for p in t["partitions"]]}
            for t in request["topics"]
        ],
    }
