"""ShareGroupHeartbeat (76), v1: join (epoch 0), heartbeat, leave (epoch -1) a share group (KIP-932).

The client chooses its member id. Every answer carries the member's epoch; an assignment comes with the first
answer after it changed (share groups have no revocation phase). Off when group.share.enable is false.
"""
from __future__ import annotations

from kbroker.coordinator import client_host, client_id
from kbroker.coordinator.share import share_coordinator
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 76, 1, 1


async def handle(ctx: RequestContext, request: dict) -> dict:
    coordinator = share_coordinator(ctx.broker)
    if not coordinator.settings.enabled:
        return {"throttle_time_ms": 0, "error_code": ErrorCode.UNSUPPORTED_VERSION,
                "error_message": "Share groups are disabled (group.share.enable=false).", "member_epoch": 0,
                "heartbeat_interval_ms": 0}
    response = coordinator.heartbeat(request, client_id=client_id(ctx), client_host=client_host(ctx))
    return {"throttle_time_ms": 0, **response}
