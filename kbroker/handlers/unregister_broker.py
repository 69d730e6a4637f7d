"""UnregisterBroker (64), v0 (kafka-cluster unregister): a broker id that is not registered is
BROKER_ID_NOT_REGISTERED, as Kafka's controller answers. Unregistering the live broker itself succeeds and changes
nothing: a live Kafka broker registers again at its next heartbeat, and kbroker's is always live.
"""
from __future__ import annotations

from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 64, 0, 0


async def handle(ctx: RequestContext, request: dict) -> dict:
    broker_id = request["broker_id"]
    if broker_id != ctx.broker.node_id:
        return {"throttle_time_ms": 0, "error_code": ErrorCode.BROKER_ID_NOT_REGISTERED,
                "error_message": f"Broker ID {broker_id} is not currently registered"}
    return {"throttle_time_ms": 0, "error_code": 0}
