"""PushTelemetry (72), v0 (KIP-714): a client's metrics, OTLP-encoded and maybe compressed; their latest values
go to the Prometheus endpoint as kbroker_client_metric. Errors as Kafka's: UNKNOWN_SUBSCRIPTION_ID (stale
subscription: the client asks again), THROTTLING_QUOTA_EXCEEDED (too early), TELEMETRY_TOO_LARGE,
UNSUPPORTED_COMPRESSION_TYPE, INVALID_RECORD (unreadable payload).
"""
from __future__ import annotations

from kbroker.server.context import RequestContext
from kbroker.telemetry.manager import client_telemetry, enabled
from wire.errors import ErrorCode

KEY, MIN, MAX = 72, 0, 0


async def handle(ctx: RequestContext, request: dict) -> dict:
    if not enabled(ctx.broker):
        return {"throttle_time_ms": 0, "error_code": ErrorCode.UNSUPPORTED_VERSION}
    code = client_telemetry(ctx.broker).push(request["client_instance_id"], request["subscription_id"],
                                             bool(request["terminating"]), request["compression_type"],
                                             bytes(request["metrics"] or b""))
    return {"throttle_time_ms": 0, "error_code": code}
