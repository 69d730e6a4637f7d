"""AlterClientQuotas (49), v0–1: set or remove quota values of user / client-id / IP entities, validated as
Kafka's controller does (known keys per entity type, positive values, integral where the key is); kept with
the cluster metadata and enforced at once for the byte rates (kbroker.quotas)."""
from __future__ import annotations

from kbroker.server.context import RequestContext

KEY, MIN, MAX = 49, 0, 1


async def handle(ctx: RequestContext, request: dict) -> dict:
    results = ctx.broker.quotas.alter(request["entries"], request["validate_only"])
    return {"throttle_time_ms": 0,
            "entries": [{"error_code": code, "error_message": message, "entity": entity}
                        for entity, code, message in results]}
