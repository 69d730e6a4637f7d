"""DescribeGroups (15), v0–6: state, protocol and members (client id and host, metadata and assignment) of
classic groups.

Member metadata is given only while the group is Stable (as Kafka). An unknown group is "Dead" with no error
before v6, GROUP_ID_NOT_FOUND from v6 (KIP-1043); so is a KIP-848 group (ConsumerGroupDescribe describes those)
and a share group (ShareGroupDescribe), "not a classic group" as Kafka words it.
"""
from __future__ import annotations

from kbroker.coordinator import group_coordinator
from kbroker.coordinator.share import share_coordinator
from kbroker.handlers._util import GROUP_OPERATIONS, NOT_REQUESTED
from kbroker.handlers._authz import Operation, ResourceType, allowed, authorized_ops, enabled
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 15, 0, 6



async def handle(ctx: RequestContext, request: dict) -> dict:
    coordinator = group_coordinator(ctx.broker)
    shares = share_coordinator(ctx.broker)
    include_ops = ctx.version >= 3 and bool(request.get("include_authorized_operations"))
    groups = []
    for group_id in request["groups"]:
        if not allowed(ctx, Operation.DESCRIBE, ResourceType.GROUP, group_id):
            groups.append({"error_code": ErrorCode.GROUP_AUTHORIZATION_FAILED, "group_id": group_id,
                           "group_state": "", "protocol_type": "", "protocol_data": "", "members": [],
                           "authorized_operations": NOT_REQUESTED})
            continue
        entry = coordinator.describe_group(group_id, ctx.version)
        if entry.get("error_message") and shares.is_share_group(group_id):
            entry["error_message"] = f"Group {group_id} is not a classic group."
        ops = authorized_ops(ctx, ResourceType.GROUP, group_id) if enabled(ctx) else GROUP_OPERATIONS
        entry["authorized_operations"] = ops if include_ops and not entry["error_code"] else NOT_REQUESTED
        groups.append(entry)
    return {"throttle_time_ms": 0, "groups": groups}
