"""ListTransactions (66), v0–2: transactional ids with their producer id and state (KIP-664), filtered by state
names (unknown names are echoed back in unknown_state_filters), producer ids, v1+ by how long the transaction has
been running (duration_filter, ms), v2+ by a regular expression the whole transactional id must match (KIP-1152;
an invalid expression gets INVALID_REQUEST).
"""
from __future__ import annotations

from kbroker.coordinator.transactions import transaction_coordinator
from kbroker.handlers._authz import Operation, ResourceType, allowed
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 66, 0, 2


async def handle(ctx: RequestContext, request: dict) -> dict:
    error, unknown, states = transaction_coordinator(ctx.broker).list_transactions(
        request["state_filters"] or [],
        request["producer_id_filters"] or [],
        request.get("duration_filter", -1) if ctx.version >= 1 else -1,
        request.get("transactional_id_pattern") if ctx.version >= 2 else None,
    )
    states = [s for s in states  # Kafka: only the transactional ids the principal may DESCRIBE
              if allowed(ctx, Operation.DESCRIBE, ResourceType.TRANSACTIONAL_ID, s["transactional_id"])]
    return {"throttle_time_ms": 0, "error_code": error, "unknown_state_filters": unknown,
            "transaction_states": states}
