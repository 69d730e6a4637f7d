"""ApiVersions (18), v0–4: the table of handled APIs, straight from the handler registry.

No tagged fields (features) are sent: old librdkafka (Debian's 2.0.2) misreads some of them, and clients use the
feature list only for KIP-848/890 negotiation, which falls back to the API list.
"""
from __future__ import annotations

from kbroker.server.context import RequestContext

KEY, MIN, MAX = 18, 0, 4


async def handle(ctx: RequestContext, request: dict) -> dict:
    from kbroker.server.dispatch import supported_api_versions

    return {"error_code": 0, "api_keys": supported_api_versions(), "throttle_time_ms": 0}
