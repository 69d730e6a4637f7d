"""DescribeTransactions (65), v0: state, producer id and epoch, timeout, start time and partitions of
transactional ids (KIP-664). Unknown ids get TRANSACTIONAL_ID_NOT_FOUND, an empty one INVALID_REQUEST.
"""
from __future__ import annotations

from kbroker.coordinator.transactions import transaction_coordinator
from kbroker.server.context import RequestContext

KEY, MIN, MAX = 65, 0, 0


async def handle(ctx: RequestContext, request: dict) -> dict:
    coordinator = transaction_coordinator(ctx.broker)
    return {"throttle_time_ms": 0,
            "transaction_states": [coordinator.describe(txn_id) for txn_id in request["transactional_ids"]]}
