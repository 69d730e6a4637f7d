"""DescribeTransactions (65), v0: state, producer id and epoch, timeout, start time and partitions of
transactional ids (KIP-664). Unknown ids get TRANSACTIONAL_ID_NOT_FOUND, an empty one INVALID_REQUEST.
"""
from __future__ import annotations

from kbroker.coordinator.transactions import transaction_coordinator
from kbroker.handlers._authz import Operation, ResourceType, allowed
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 65, 0, 0


async def handle(ctx: RequestContext, request: dict) -> dict:
    coordinator = transaction_coordinator(ctx.broker)
    return {"throttle_time_ms": 0,
            "transaction_states": [coordinator.describe(txn_id)
                                   if allowed(ctx, Operation.DESCRIBE, ResourceType.TRANSACTIONAL_ID, txn_id)
                                   else _denied(txn_id) for txn_id in request["transactional_ids"]]}


def _denied(txn_id: str) -> dict:
    return {"error_code": int(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED), "transactional_id": txn_id,
            "transaction_state": "", "transaction_timeout_ms": 0, "transaction_start_time_ms": -1,
            "producer_id": -1, "producer_epoch": -1, "topics": []}
