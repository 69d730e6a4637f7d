"""ApiVersions (18), v0–4: the table of handled APIs, straight from the handler registry.

v3+ carries the feature levels (KIP-584, kbroker.features) in the tagged fields Kafka uses (supported features,
finalized epoch, finalized features), as Kafka 4.2 sends them.
"""
from __future__ import annotations

import re

from kbroker.coordinator.share import share_coordinator
from kbroker.features import api_versions_fields
from kbroker.server.context import RequestContext
from kbroker.telemetry.manager import enabled as telemetry_enabled
from wire.errors import ErrorCode

KEY, MIN, MAX = 18, 0, 4

SHARE_API_KEYS = frozenset({76, 77, 78, 79, 90, 91, 92})
"""Not advertised when share groups are off (group.share.enable=false), as Kafka without share.version."""
TELEMETRY_API_KEYS = frozenset({71, 72})
"""Advertised only with a metrics endpoint (KIP-714 telemetry goes there), as Kafka only with a telemetry reporter."""

# KIP-511: what a client may call its software and version (v3+); anything else is INVALID_REQUEST
_SOFTWARE = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?")


async def handle(ctx: RequestContext, request: dict) -> dict:
    from kbroker.server.dispatch import supported_api_versions

    if ctx.version >= 3 and not all(_SOFTWARE.fullmatch(request[k]) for k in ("client_software_name",
                                                                              "client_software_version")):
        return {"error_code": ErrorCode.INVALID_REQUEST, "api_keys": [], "throttle_time_ms": 0}
    keys = supported_api_versions()
    if not share_coordinator(ctx.broker).settings.enabled:
        keys = [k for k in keys if k["api_key"] not in SHARE_API_KEYS]
    if not telemetry_enabled(ctx.broker):
        keys = [k for k in keys if k["api_key"] not in TELEMETRY_API_KEYS]
    response = {"error_code": 0, "api_keys": keys, "throttle_time_ms": 0}
    if ctx.version >= 3:
        response.update(api_versions_fields(ctx.broker))
    return response
