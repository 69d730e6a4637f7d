"""InitProducerId (22), v0–5: producer ids for idempotent producers.

Without a transactional id this is a plain allocation; a producer that passes its current id and epoch (v3+,
KIP-360) gets the epoch bumped, or a fresh id when the epoch is exhausted.
"""
from __future__ import annotations

from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 22, 0, 5

MAX_EPOCH = 32767


async def handle(ctx: RequestContext, request: dict) -> dict:
    metadata = ctx.broker.metadata
    if request["transactional_id"] is not None:
        # transactions arrive with the transaction coordinator
        return {"throttle_time_ms": 0, "error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE, "producer_id": -1,
                "producer_epoch": -1}
    pid, epoch = request["producer_id"], request["producer_epoch"]
    if pid >= 0 and 0 <= epoch < MAX_EPOCH - 1:
        return {"throttle_time_ms": 0, "error_code": 0, "producer_id": pid, "producer_epoch": epoch + 1}
    return {"throttle_time_ms": 0, "error_code": 0, "producer_id": metadata.allocate_producer_id(),
            "producer_epoch": 0}
