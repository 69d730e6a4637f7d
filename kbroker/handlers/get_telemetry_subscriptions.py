"""GetTelemetrySubscriptions (71), v0 (KIP-714): the metrics this client should push, and how often.

A zero client instance id gets a new one. Served only when the broker exports metrics (--metrics-listen), as
Kafka serves it only with a client-telemetry reporter configured; otherwise it is not advertised and answers
UNSUPPORTED_VERSION. Subscriptions are CLIENT_METRICS config resources (kbroker.telemetry).
"""
from __future__ import annotations

from kbroker.server.context import RequestContext
from kbroker.telemetry.manager import client_telemetry, enabled
from wire.errors import ErrorCode

KEY, MIN, MAX = 71, 0, 0


async def handle(ctx: RequestContext, request: dict) -> dict:
    if not enabled(ctx.broker):
        return {"throttle_time_ms": 0, "error_code": ErrorCode.UNSUPPORTED_VERSION,
                "client_instance_id": request["client_instance_id"], "subscription_id": 0,
                "accepted_compression_types": [], "push_interval_ms": 0, "telemetry_max_bytes": 0,
                "delta_temporality": False, "requested_metrics": []}
    selectors = {"client_id": ctx.header.client_id or "", "client_source_address": ctx.client_host}
    answer = client_telemetry(ctx.broker).subscribe(request["client_instance_id"], selectors)
    return {"throttle_time_ms": 0, "error_code": 0, **answer}
