"""ListGroups (16), v0–5: every group with its protocol type; v4+ its state (and a state filter), v5+ its type
("classic", "consumer" or "share", and a type filter). Filters compare case-insensitively. Share groups come
from the share coordinator.
"""
from __future__ import annotations

from kbroker.coordinator import group_coordinator
from kbroker.coordinator.share import share_coordinator
from kbroker.handlers._authz import Operation, ResourceType, allowed, allowed_cluster
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 16, 0, 5


async def handle(ctx: RequestContext, request: dict) -> dict:
    states = request.get("states_filter") or [] if ctx.version >= 4 else []
    types = request.get("types_filter") or [] if ctx.version >= 5 else []
    error, groups = group_coordinator(ctx.broker).list_groups(states, types)
    if not error:
        groups += _share_groups(ctx, states, types)
    if not allowed_cluster(ctx, Operation.DESCRIBE):  # Kafka: without DESCRIBE on the cluster, the describable ones
        groups = [g for g in groups if allowed(ctx, Operation.DESCRIBE, ResourceType.GROUP, g["group_id"])]
    return {"throttle_time_ms": 0, "error_code": error, "groups": groups}


def _share_groups(ctx: RequestContext, states: list[str], types: list[str]) -> list[dict]:
    wanted_states = {s.strip().lower() for s in states}
    wanted_types = {t.strip().lower() for t in types}
    if wanted_types and "share" not in wanted_types:
        return []
    return [g for g in share_coordinator(ctx.broker).list_groups()
            if not wanted_states or g["group_state"].lower() in wanted_states]
