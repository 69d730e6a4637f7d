"""InitProducerId (22), v0–5: producer ids and epochs for idempotent and transactional producers.

Without a transactional id this is a plain allocation, as in Kafka: a new producer id with epoch 0, whatever id
and epoch the producer passes. With one, the transaction coordinator bumps the id's epoch (fencing older
producers), completing or aborting a transaction left open (CONCURRENT_TRANSACTIONS, retried by the client, when it
had to abort one), or gives a new producer id when the epoch is exhausted. v3+ carries the producer's current id
and epoch (KIP-360); v0–3 learn PRODUCER_FENCED as INVALID_PRODUCER_EPOCH. Transaction timeouts above
transaction.max.timeout.ms (or not positive) get INVALID_TRANSACTION_TIMEOUT.
"""
from __future__ import annotations

from kbroker.coordinator.transactions import transaction_coordinator
from kbroker.handlers._authz import Operation, ResourceType, allowed, allowed_any, allowed_cluster
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 22, 0, 5


def _answer(error: int, producer_id: int = -1, producer_epoch: int = -1) -> dict:
    return {"throttle_time_ms": 0, "error_code": int(error), "producer_id": producer_id,
            "producer_epoch": producer_epoch}


async def handle(ctx: RequestContext, request: dict) -> dict:
    pid = request.get("producer_id", -1) if ctx.version >= 3 else -1
    epoch = request.get("producer_epoch", -1) if ctx.version >= 3 else -1
    if (pid == -1) != (epoch == -1):
        return _answer(ErrorCode.INVALID_REQUEST)
    txn_id = request["transactional_id"]
    # Kafka: WRITE on the transactional id; an idempotent producer needs IDEMPOTENT_WRITE on the cluster or WRITE
    # on some topic
    if txn_id is not None and not allowed(ctx, Operation.WRITE, ResourceType.TRANSACTIONAL_ID, txn_id):
        return _answer(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    if txn_id is None and not (allowed_cluster(ctx, Operation.IDEMPOTENT_WRITE)
                               or allowed_any(ctx, Operation.WRITE, ResourceType.TOPIC)):
        return _answer(ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    if txn_id is None:
        return _answer(0, ctx.broker.metadata.allocate_producer_id(), 0)
    result = transaction_coordinator(ctx.broker).init_producer_id(
        txn_id, request["transaction_timeout_ms"], pid, epoch)
    if result.error:
        error = result.error
        if error == ErrorCode.PRODUCER_FENCED and ctx.version < 4:
            error = ErrorCode.INVALID_PRODUCER_EPOCH
        return _answer(error)
    return _answer(0, result.producer_id, result.producer_epoch)
