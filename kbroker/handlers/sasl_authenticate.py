"""SaslAuthenticate (36), v0–2: one round of the mechanism chosen by SaslHandshake (kbroker.security.session). A
failure answers SASL_AUTHENTICATION_FAILED with Kafka's message, delayed by
connection.failed.authentication.delay.ms, and closes the connection; v1+ carry the session lifetime
(connections.max.reauth.ms, or the credential's expiry). Outside a SASL exchange: ILLEGAL_SASL_STATE, as Kafka."""
from __future__ import annotations

from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 36, 0, 2


async def handle(ctx: RequestContext, request: dict) -> dict:
    if ctx.auth is None:
        return {"error_code": ErrorCode.ILLEGAL_SASL_STATE,
                "error_message": "SaslAuthenticate request received after successful authentication",
                "auth_bytes": b"", "session_lifetime_ms": 0}
    return ctx.auth.authenticate(ctx.version, bytes(request["auth_bytes"])).body
