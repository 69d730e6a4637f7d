"""ShareGroupDescribe (77), v1: share groups with their members and assignments (KIP-932).

An unknown group, or a group of another type, is GROUP_ID_NOT_FOUND as in Kafka. include_authorized_operations
is honoured as DescribeGroups honours it. Each group is UNSUPPORTED_VERSION when share groups are off.
"""
from __future__ import annotations

from kbroker.coordinator.share import share_coordinator
from kbroker.handlers._util import GROUP_OPERATIONS, NOT_REQUESTED
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 77, 1, 1


async def handle(ctx: RequestContext, request: dict) -> dict:
    coordinator = share_coordinator(ctx.broker)
    enabled = coordinator.settings.enabled
    groups = []
    for group_id in request["group_ids"]:
        if enabled:
            entry = coordinator.describe(group_id)
        else:
            entry = {"group_id": group_id, "error_code": ErrorCode.UNSUPPORTED_VERSION,
                     "error_message": "Share groups are disabled.", "group_state": "", "group_epoch": 0,
                     "assignment_epoch": 0, "assignor_name": "", "members": []}
        include = bool(request["include_authorized_operations"]) and not entry["error_code"]
        entry["authorized_operations"] = GROUP_OPERATIONS if include else NOT_REQUESTED
        groups.append(entry)
    return {"throttle_time_ms": 0, "groups": groups}
