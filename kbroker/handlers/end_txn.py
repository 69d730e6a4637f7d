"""EndTxn (26), v0–5: commit or abort the producer's open transaction.

The outcome is written to `__transaction_state` first (PrepareCommit/PrepareAbort), then the markers go to every
partition of the transaction (and the transaction's offsets to the group coordinator on commit), then the
transaction is CompleteCommit/CompleteAbort; the answer comes once the outcome is durable. A retry after success
gets NONE, the other outcome INVALID_TXN_STATE. PRODUCER_FENCED is INVALID_PRODUCER_EPOCH below v2. Transactions
are of Kafka's transaction version 1 (no epoch bump per transaction: kbroker advertises no transaction.version
feature), so v5 answers carry the unchanged producer id and epoch.
"""
from __future__ import annotations

from kbroker.coordinator.transactions import transaction_coordinator
from kbroker.handlers._authz import Operation, ResourceType, allowed
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 26, 0, 5


async def handle(ctx: RequestContext, request: dict) -> dict:
    coordinator = transaction_coordinator(ctx.broker)
    txn_id = request["transactional_id"]
    if not allowed(ctx, Operation.WRITE, ResourceType.TRANSACTIONAL_ID, txn_id):
        return {"throttle_time_ms": 0, "error_code": int(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
                "producer_id": -1, "producer_epoch": -1}
    error = coordinator.end_transaction(txn_id, request["producer_id"], request["producer_epoch"],
                                        bool(request["committed"]))
    if error == ErrorCode.PRODUCER_FENCED and ctx.version < 2:
        error = ErrorCode.INVALID_PRODUCER_EPOCH
    pid = epoch = -1
    if not error:
        meta = coordinator.txns.get(txn_id)
        if meta is not None:
            pid, epoch = meta.producer_id, meta.producer_epoch
    return {"throttle_time_ms": 0, "error_code": int(error), "producer_id": pid, "producer_epoch": epoch}
