"""ConsumerGroupHeartbeat (68), v0–1: the KIP-848 consumer group protocol (group.protocol=consumer).

One request does everything: join (epoch 0), heartbeat and reconcile (the member's epoch, the partitions it owns),
leave (epoch -1, or -2 for a static member leaving for a while). The coordinator assigns partitions itself
(uniform or range assignor) and answers each member with its next assignment. v1 adds subscribed_topic_regex and
requires the client to choose its member id. With group.coordinator.rebalance.protocols=classic every request is
answered UNSUPPORTED_VERSION and nothing else, as by Kafka.
"""
from __future__ import annotations

from kbroker.coordinator import client_host, client_id, group_coordinator
from kbroker.coordinator.share import share_coordinator
from kbroker.handlers._util import consumer_protocol_enabled
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 68, 0, 1


async def handle(ctx: RequestContext, request: dict) -> dict:
    if not consumer_protocol_enabled(ctx.broker):
        return {"throttle_time_ms": 0, "error_code": ErrorCode.UNSUPPORTED_VERSION, "error_message": None,
                "member_id": None, "member_epoch": 0, "heartbeat_interval_ms": 0, "assignment": None}
    group_id = request["group_id"]
    if group_id and share_coordinator(ctx.broker).is_share_group(group_id):
        return {"throttle_time_ms": 0, "error_code": ErrorCode.GROUP_ID_NOT_FOUND,
                "error_message": f"Group {group_id} is not a consumer group.", "member_epoch": 0,
                "heartbeat_interval_ms": 0}
    manager = group_coordinator(ctx.broker).consumer_groups
    response = manager.heartbeat(request, version=ctx.version, client_id=client_id(ctx), client_host=client_host(ctx))
    return {"throttle_time_ms": 0, "error_code": response["error_code"],
            "error_message": response.get("error_message"), "member_id": response.get("member_id"),
            "member_epoch": response.get("member_epoch", 0),
            "heartbeat_interval_ms": response.get("heartbeat_interval_ms", 0),
            "assignment": response.get("assignment")}
