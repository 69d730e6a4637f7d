"""SaslAuthenticate (36), v0–2: no SASL on kbroker's plain-text listener; Kafka's PLAINTEXT answer."""
from __future__ import annotations

from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 36, 0, 2


async def handle(ctx: RequestContext, request: dict) -> dict:
    return {"error_code": ErrorCode.ILLEGAL_SASL_STATE,
            "error_message": "SaslAuthenticate request received after successful authentication",
            "auth_bytes": b"", "session_lifetime_ms": 0}
