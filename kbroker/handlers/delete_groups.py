"""DeleteGroups (42), v0–2: delete empty groups and their committed offsets.

GROUP_ID_NOT_FOUND for an unknown group, NON_EMPTY_GROUP while it has members.
"""
from __future__ import annotations

from kbroker.coordinator import group_coordinator
from kbroker.handlers._authz import Operation, ResourceType, allowed
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 42, 0, 2


async def handle(ctx: RequestContext, request: dict) -> dict:
    names = list(request["groups_names"])
    may = {g for g in names if allowed(ctx, Operation.DELETE, ResourceType.GROUP, g)}  # Kafka: DELETE on the group
    results = [{"group_id": g, "error_code": int(e)}
               for g, e in group_coordinator(ctx.broker).delete_groups([g for g in names if g in may])]
    results += [{"group_id": g, "error_code": int(ErrorCode.GROUP_AUTHORIZATION_FAILED)} for g in names if g not in may]
    return {"throttle_time_ms": 0, "results": results}
