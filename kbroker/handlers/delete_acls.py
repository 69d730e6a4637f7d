"""DeleteAcls (31), v0–3: no authorizer, so every filter fails with SECURITY_DISABLED, as in Kafka."""
from __future__ import annotations

from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 31, 0, 3


async def handle(ctx: RequestContext, request: dict) -> dict:
    return {"throttle_time_ms": 0,
            "filter_results": [{"error_code": ErrorCode.SECURITY_DISABLED,
                                "error_message": "No Authorizer is configured.", "matching_acls": []}
                               for _ in request["filters"]]}
