"""LeaveGroup (13), v0–5: members leave a classic group, which rebalances without them.

v0–2 name one member (its error is the top-level one); v3+ a batch, each with its own error, where an empty
member id with a group instance id removes that static member (AdminClient removeMembersFromConsumerGroup).
"""
from __future__ import annotations

from kbroker.coordinator import group_coordinator
from kbroker.handlers._authz import Operation, ResourceType, allowed
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 13, 0, 5


async def handle(ctx: RequestContext, request: dict) -> dict:
    if not allowed(ctx, Operation.READ, ResourceType.GROUP, request["group_id"]):
        return {"throttle_time_ms": 0, "error_code": ErrorCode.GROUP_AUTHORIZATION_FAILED, "members": []}
    if ctx.version < 3:
        members = [(request["member_id"] or "", None, None)]
    else:
        members = [(m["member_id"] or "", m.get("group_instance_id"), m.get("reason") if ctx.version >= 5 else None)
                   for m in request["members"]]
    error, results = group_coordinator(ctx.broker).leave_group(request["group_id"], members)
    if ctx.version < 3:
        if not error and results:
            error = results[0]["error_code"]
        return {"throttle_time_ms": 0, "error_code": error}
    return {"throttle_time_ms": 0, "error_code": error, "members": results}
