"""AddPartitionsToTxn (24), v0–5: add partitions to a producer's open transaction (starting it if needed).

v0–3 come from producers: one transaction at the top level, one error per partition. v4+ is the batched
broker form (several transactions, each may be `verify_only`: only check that the partitions are in the
transaction, KIP-890). A partition of an unknown topic fails the whole transaction: it gets
UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED. PRODUCER_FENCED is INVALID_PRODUCER_EPOCH
below v2.
"""
from __future__ import annotations

from kbroker.coordinator.transactions import transaction_coordinator
from kbroker.handlers._authz import Operation, ResourceType, allowed
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 24, 0, 5


def _results(errors: dict[tuple[str, int], int]) -> list[dict]:
    by_topic: dict[str, list[dict]] = {}
    for (topic, index), error in errors.items():
        by_topic.setdefault(topic, []).append({"partition_index": index, "partition_error_code": int(error)})
    return [{"name": t, "results_by_partition": ps} for t, ps in by_topic.items()]


def _one(ctx: RequestContext, txn_id: str, pid: int, epoch: int, topics: list[dict], verify_only: bool) -> dict:
    broker = ctx.broker
    every = [(t["name"], i) for t in topics for i in t["partitions"]]
    if not allowed(ctx, Operation.WRITE, ResourceType.TRANSACTIONAL_ID, txn_id):
        return {tp: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED for tp in every}
    denied = {tp for tp in every if not allowed(ctx, Operation.WRITE, ResourceType.TOPIC, tp[0])}
    if denied:
        return {tp: (ErrorCode.TOPIC_AUTHORIZATION_FAILED if tp in denied else ErrorCode.OPERATION_NOT_ATTEMPTED)
                for tp in every}
    wanted: list[tuple[str, int]] = []
    unknown: set[tuple[str, int]] = set()
    for topic in topics:
        info = broker.topic(topic["name"])
        for index in topic["partitions"]:
            tp = (topic["name"], index)
            wanted.append(tp)
            if info is None or not 0 <= index < info.partitions:
                unknown.add(tp)
    if unknown:
        return {tp: (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION if tp in unknown else ErrorCode.OPERATION_NOT_ATTEMPTED)
                for tp in wanted}
    coordinator = transaction_coordinator(broker)
    if verify_only:
        return coordinator.verify_partitions(txn_id, pid, epoch, wanted)
    error = coordinator.add_partitions(txn_id, pid, epoch, wanted)
    if error == ErrorCode.PRODUCER_FENCED and ctx.version < 2:
        error = ErrorCode.INVALID_PRODUCER_EPOCH
    return {tp: error for tp in wanted}


async def handle(ctx: RequestContext, request: dict) -> dict:
    if ctx.version < 4:
        errors = _one(ctx, request["v3_and_below_transactional_id"], request["v3_and_below_producer_id"],
                      request["v3_and_below_producer_epoch"], request["v3_and_below_topics"], False)
        return {"throttle_time_ms": 0, "results_by_topic_v3_and_below": _results(errors)}
    results = []
    for txn in request["transactions"]:
        errors = _one(ctx, txn["transactional_id"], txn["producer_id"], txn["producer_epoch"], txn["topics"],
                      bool(txn.get("verify_only")))
        results.append({"transactional_id": txn["transactional_id"], "topic_results": _results(errors)})
    return {"throttle_time_ms": 0, "error_code": 0, "results_by_transaction": results}
