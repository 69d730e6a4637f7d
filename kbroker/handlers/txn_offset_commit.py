"""TxnOffsetCommit (28), v0–5: offsets committed as part of a producer's transaction (consume-transform-produce).

The group's `__consumer_offsets` partition must be in the transaction (AddOffsetsToTxn; v5, transaction version 2,
adds it implicitly). The offsets are written to that partition as a transactional batch of the producer and become
the group's committed offsets only when the transaction commits. v3+ carry the member id, generation and group
instance id, checked as for OffsetCommit (a generation of -1 without a member is accepted, as Kafka does for
transactional commits). Partitions of unknown topics get UNKNOWN_TOPIC_OR_PARTITION. Below v2,
COORDINATOR_LOAD_IN_PROGRESS is answered as COORDINATOR_NOT_AVAILABLE (Kafka's KAFKA-7296 rule).
"""
from __future__ import annotations

from kbroker.coordinator.transactions import transaction_coordinator
from kbroker.handlers._util import offsets_to_commit
from kbroker.handlers._authz import Operation, ResourceType, allowed
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 28, 0, 5


async def handle(ctx: RequestContext, request: dict) -> dict:
    broker = ctx.broker
    version = ctx.version
    coordinator = transaction_coordinator(broker)
    every = [(t["name"], p["partition_index"]) for t in request["topics"] for p in t["partitions"]]
    if not allowed(ctx, Operation.WRITE, ResourceType.TRANSACTIONAL_ID, request["transactional_id"]):
        forced = ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    elif not allowed(ctx, Operation.READ, ResourceType.GROUP, request["group_id"]):
        forced = ErrorCode.GROUP_AUTHORIZATION_FAILED
    else:
        forced = None
    denied = [t for t in request["topics"] if not allowed(ctx, Operation.READ, ResourceType.TOPIC, t["name"])]
    if forced is not None:
        errors, valid = {tp: forced for tp in every}, []
    else:
        errors, valid = offsets_to_commit(broker, [t for t in request["topics"] if t not in denied],
                                          with_epoch=version >= 2)
        for t in denied:
            for p in t["partitions"]:
                errors[(t["name"], p["partition_index"])] = ErrorCode.TOPIC_AUTHORIZATION_FAILED
    if valid:
        group_error, results = coordinator.txn_offset_commit(
            version=version,
            transactional_id=request["transactional_id"],
            group_id=request["group_id"],
            producer_id=request["producer_id"],
            producer_epoch=request["producer_epoch"],
            generation_id=request.get("generation_id", -1) if version >= 3 else -1,
            member_id=(request.get("member_id") or "") if version >= 3 else "",
            group_instance_id=request.get("group_instance_id") if version >= 3 else None,
            offsets=valid,
        )
        for topic, partition, *_ in valid:
            errors[(topic, partition)] = group_error or results.get((topic, partition), ErrorCode.UNKNOWN_SERVER_ERROR)
    if version < 2:
        errors = {k: (ErrorCode.COORDINATOR_NOT_AVAILABLE if e == ErrorCode.COORDINATOR_LOAD_IN_PROGRESS else e)
                  for k, e in errors.items()}
    return {
        "throttle_time_ms": 0,
        "topics": [
            {"name": t["name"],
             "partitions": [{"partition_index": p["partition_index"],
                             "error_code": int(errors[(t["name"], p["partition_index"])])} for p in t["partitions"]]}
            for t in request["topics"]
        ],
    }
