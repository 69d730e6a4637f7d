"""SaslHandshake (17), v0–1: the client names its SASL mechanism (kbroker.security.session decides). On a
SASL listener an unknown mechanism answers UNSUPPORTED_SASL_MECHANISM with the enabled ones and the connection is
closed; v0 starts the legacy flow of bare tokens; on an authenticated connection it starts a re-authentication
(KIP-368). On PLAINTEXT and SSL listeners, as Kafka's KafkaApis, ILLEGAL_SASL_STATE with no mechanisms."""
from __future__ import annotations

from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 17, 0, 1


async def handle(ctx: RequestContext, request: dict) -> dict:
    if ctx.auth is None:
        return {"error_code": ErrorCode.ILLEGAL_SASL_STATE, "mechanisms": []}
    return ctx.auth.handshake(ctx.version, request["mechanism"]).body
