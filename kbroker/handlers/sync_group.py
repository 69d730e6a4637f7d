"""SyncGroup (14), v0–5: the leader hands in the assignment, every member gets its own share.

A member that syncs before the leader parks until the assignment is in, a rebalance starts, or the sync phase
times out (the group's rebalance timeout). v3+ static membership, v5 protocol type and name in both directions.
"""
from __future__ import annotations

from kbroker.coordinator import group_coordinator
from kbroker.handlers._authz import Operation, ResourceType, allowed
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 14, 0, 5


async def handle(ctx: RequestContext, request: dict) -> dict:
    if not allowed(ctx, Operation.READ, ResourceType.GROUP, request["group_id"]):
        return {"throttle_time_ms": 0, "error_code": ErrorCode.GROUP_AUTHORIZATION_FAILED, "protocol_type": None,
                "protocol_name": None, "assignment": b""}
    coordinator = group_coordinator(ctx.broker)
    waiter = coordinator.sync_group(
        group_id=request["group_id"],
        generation_id=request["generation_id"],
        member_id=request["member_id"] or "",
        group_instance_id=request.get("group_instance_id") if ctx.version >= 3 else None,
        protocol_type=request.get("protocol_type") if ctx.version >= 5 else None,
        protocol_name=request.get("protocol_name") if ctx.version >= 5 else None,
        assignments=[(a["member_id"], bytes(a["assignment"] or b"")) for a in request["assignments"]],
    )
    response = await coordinator.park(waiter, coordinator.sync_bound_ms(request["group_id"]))
    if response is None:
        response = {"error_code": ErrorCode.REBALANCE_IN_PROGRESS}
    return {
        "throttle_time_ms": 0,
        "error_code": response["error_code"],
        "protocol_type": response.get("protocol_type"),
        "protocol_name": response.get("protocol_name"),
        "assignment": response.get("assignment") or b"",
    }
