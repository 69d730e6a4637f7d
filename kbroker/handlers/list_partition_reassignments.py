"""ListPartitionReassignments (46), v0: no reassignment is ever in progress on a single broker, so the answer
lists no topics, whether all (topics null) or some were asked for."""
from __future__ import annotations

from kbroker.server.context import RequestContext

KEY, MIN, MAX = 46, 0, 0


async def handle(ctx: RequestContext, request: dict) -> dict:
    return {"throttle_time_ms": 0, "error_code": 0, "error_message": None, "topics": []}
