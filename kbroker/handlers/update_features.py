"""UpdateFeatures (57), v0–2: finalize feature levels within what kbroker supports (kafka-features upgrade /
downgrade). All updates apply or none; v0's allow_downgrade stands for a safe downgrade. share.version 0 turns
share groups off (their APIs leave ApiVersions), 1 back on.
"""
from __future__ import annotations

from kbroker.features import SAFE_DOWNGRADE, UPGRADE, update
from kbroker.server.context import RequestContext
from wire.errors import KafkaError

KEY, MIN, MAX = 57, 0, 2


async def handle(ctx: RequestContext, request: dict) -> dict:
    updates = []
    for u in request["feature_updates"]:
        kind = u["upgrade_type"] if ctx.version >= 1 else (SAFE_DOWNGRADE if u["allow_downgrade"] else UPGRADE)
        updates.append((u["feature"], u["max_version_level"], kind))
    error, message = 0, None
    try:
        update(ctx.broker, updates, bool(request.get("validate_only")) and ctx.version >= 1)
    except KafkaError as exc:
        error, message = int(exc.code), exc.message
    results = [{"feature": name, "error_code": error, "error_message": message} for name, _, _ in updates]
    return {"throttle_time_ms": 0, "error_code": error, "error_message": message, "results": results}
