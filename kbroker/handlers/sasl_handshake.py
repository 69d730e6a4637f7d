"""SaslHandshake (17), v0–1: kbroker listens in plain text only. As a Kafka PLAINTEXT listener does (the request
reaches KafkaApis, not an authenticator), it answers ILLEGAL_SASL_STATE with no mechanisms, so a client
configured for SASL fails clearly instead of hanging."""
from __future__ import annotations

from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 17, 0, 1


async def handle(ctx: RequestContext, request: dict) -> dict:
    return {"error_code": ErrorCode.ILLEGAL_SASL_STATE, "mechanisms": []}
