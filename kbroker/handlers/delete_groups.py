"""DeleteGroups (42), v0–2: delete empty groups and their committed offsets.

GROUP_ID_NOT_FOUND for an unknown group, NON_EMPTY_GROUP while it has members. A share group goes with its
share-partition state (the share coordinator's).
"""
from __future__ import annotations

from kbroker.coordinator import group_coordinator
from kbroker.coordinator.share import share_coordinator
from kbroker.handlers._authz import Operation, ResourceType, allowed
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 42, 0, 2


async def handle(ctx: RequestContext, request: dict) -> dict:
    shares = share_coordinator(ctx.broker)
    names = list(request["groups_names"])
    may = {g for g in names if allowed(ctx, Operation.DELETE, ResourceType.GROUP, g)}  # Kafka: DELETE on the group
    share_results = {g: shares.delete_group(g) for g in names if g in may and g and shares.is_share_group(g)}
    others = dict(group_coordinator(ctx.broker).delete_groups(
        [g for g in names if g in may and g not in share_results]))
    results = [(g, ErrorCode.GROUP_AUTHORIZATION_FAILED if g not in may else
                share_results[g] if g in share_results else others[g]) for g in names]
    return {"throttle_time_ms": 0, "results": [{"group_id": g, "error_code": int(e)} for g, e in results]}
