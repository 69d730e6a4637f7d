"""Heartbeat (12), v0–4: keeps a classic member's session; REBALANCE_IN_PROGRESS tells it to rejoin.

v3+ carry the group instance id of a static member (FENCED_INSTANCE_ID when another member holds it).
"""
from __future__ import annotations

from kbroker.coordinator import group_coordinator
from kbroker.handlers._authz import Operation, ResourceType, allowed
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 12, 0, 4


async def handle(ctx: RequestContext, request: dict) -> dict:
    if not allowed(ctx, Operation.READ, ResourceType.GROUP, request["group_id"]):
        return {"throttle_time_ms": 0, "error_code": ErrorCode.GROUP_AUTHORIZATION_FAILED}
    error = group_coordinator(ctx.broker).heartbeat(
        group_id=request["group_id"],
        generation_id=request["generation_id"],
        member_id=request["member_id"] or "",
        group_instance_id=request.get("group_instance_id") if ctx.version >= 3 else None,
    )
    return {"throttle_time_ms": 0, "error_code": error}
