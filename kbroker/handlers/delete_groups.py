"""DeleteGroups (42), v0–2: delete empty groups and their committed offsets.

GROUP_ID_NOT_FOUND for an unknown group, NON_EMPTY_GROUP while it has members.
"""
from __future__ import annotations

from kbroker.coordinator import group_coordinator
from kbroker.server.context import RequestContext

KEY, MIN, MAX = 42, 0, 2


async def handle(ctx: RequestContext, request: dict) -> dict:
    results = group_coordinator(ctx.broker).delete_groups(list(request["groups_names"]))
    return {"throttle_time_ms": 0, "results": [{"group_id": g, "error_code": int(e)} for g, e in results]}
