"""ShareGroupDescribe (77), v1: share groups with their members and assignments (KIP-932).

An unknown group, or a group of another type, is GROUP_ID_NOT_FOUND as in Kafka.
"""
from __future__ import annotations

from kbroker.coordinator.share import share_coordinator
from kbroker.server.context import RequestContext

KEY, MIN, MAX = 77, 1, 1


async def handle(ctx: RequestContext, request: dict) -> dict:
    coordinator = share_coordinator(ctx.broker)
    return {"throttle_time_ms": 0, "groups": [coordinator.describe(g) for g in request["group_ids"]]}
