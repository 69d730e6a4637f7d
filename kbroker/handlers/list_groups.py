"""ListGroups (16), v0–5: every group with its protocol type; v4+ its state (and a state filter), v5+ its type
("classic" or "consumer", and a type filter). Filters compare case-insensitively.
"""
from __future__ import annotations

from kbroker.coordinator import group_coordinator
from kbroker.handlers._authz import Operation, ResourceType, allowed, allowed_cluster
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 16, 0, 5


async def handle(ctx: RequestContext, request: dict) -> dict:
    states = request.get("states_filter") or [] if ctx.version >= 4 else []
    types = request.get("types_filter") or [] if ctx.version >= 5 else []
    error, groups = group_coordinator(ctx.broker).list_groups(states, types)
    if not allowed_cluster(ctx, Operation.DESCRIBE):  # Kafka: without DESCRIBE on the cluster, the describable ones
        groups = [g for g in groups if allowed(ctx, Operation.DESCRIBE, ResourceType.GROUP, g["group_id"])]
    return {"throttle_time_ms": 0, "error_code": error, "groups": groups}
