"""AddOffsetsToTxn (25), v0–4: put the group's `__consumer_offsets` partition into the producer's transaction, so
that its TxnOffsetCommit can be written there and the transaction's marker reaches it. PRODUCER_FENCED is
INVALID_PRODUCER_EPOCH below v2.
"""
from __future__ import annotations

from kbroker.coordinator.transactions import transaction_coordinator
from kbroker.handlers._authz import Operation, ResourceType, allowed
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 25, 0, 4


async def handle(ctx: RequestContext, request: dict) -> dict:
    if not allowed(ctx, Operation.WRITE, ResourceType.TRANSACTIONAL_ID, request["transactional_id"]):
        return {"throttle_time_ms": 0, "error_code": int(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED)}
    if not allowed(ctx, Operation.READ, ResourceType.GROUP, request["group_id"]):
        return {"throttle_time_ms": 0, "error_code": int(ErrorCode.GROUP_AUTHORIZATION_FAILED)}
    error = transaction_coordinator(ctx.broker).add_offsets(
        request["transactional_id"], request["producer_id"], request["producer_epoch"], request["group_id"])
    if error == ErrorCode.PRODUCER_FENCED and ctx.version < 2:
        error = ErrorCode.INVALID_PRODUCER_EPOCH
    return {"throttle_time_ms": 0, "error_code": int(error)}
