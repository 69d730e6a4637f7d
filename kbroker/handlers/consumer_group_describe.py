"""ConsumerGroupDescribe (69), v0–1: KIP-848 consumer groups with their epochs, assignor, and each member's
subscription, current and target assignment. A classic group answers GROUP_ID_NOT_FOUND (clients then use
DescribeGroups), as Kafka does. v1 adds each member's type (1: consumer protocol). With
group.coordinator.rebalance.protocols=classic each group is answered UNSUPPORTED_VERSION, as by Kafka.
"""
from __future__ import annotations

from kbroker.coordinator import group_coordinator
from kbroker.handlers._util import GROUP_OPERATIONS, NOT_REQUESTED, consumer_protocol_enabled
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 69, 0, 1



async def handle(ctx: RequestContext, request: dict) -> dict:
    enabled = consumer_protocol_enabled(ctx.broker)
    manager = group_coordinator(ctx.broker).consumer_groups if enabled else None
    groups = []
    for group_id in request["group_ids"]:
        entry = {"error_message": None, "group_state": "", "group_epoch": -1, "assignment_epoch": -1,
                 "assignor_name": "", "members": []}
        if manager is None:
            entry.update(group_id=group_id, error_code=ErrorCode.UNSUPPORTED_VERSION)
        else:
            entry.update(manager.describe(group_id))
        include = bool(request["include_authorized_operations"]) and not entry["error_code"]
        entry["authorized_operations"] = GROUP_OPERATIONS if include else NOT_REQUESTED
        groups.append(entry)
    return {"throttle_time_ms": 0, "groups": groups}
