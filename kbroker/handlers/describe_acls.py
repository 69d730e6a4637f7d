"""DescribeAcls (29), v0–3: kbroker has no authorizer, so, as Kafka without authorizer.class.name, the answer is
SECURITY_DISABLED (and every client may do everything)."""
from __future__ import annotations

from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 29, 0, 3


async def handle(ctx: RequestContext, request: dict) -> dict:
    return {"throttle_time_ms": 0, "error_code": ErrorCode.SECURITY_DISABLED,
            "error_message": "No Authorizer is configured on the broker", "resources": []}
