"""JoinGroup (11), v0–9: join a classic group, or rejoin it for a new generation.

v0 has no rebalance timeout (the session timeout serves), v4+ answers a member without an id MEMBER_ID_REQUIRED
with one (KIP-394), v5+ static membership, v7+ protocol type and name in the answer, v9 skip_assignment for a
static leader coming back. The request parks until the group's join phase completes (all known members joined,
or the rebalance timeout): it holds only its own connection.
"""
from __future__ import annotations

from kbroker.coordinator import client_host, client_id, group_coordinator
from kbroker.coordinator.share import share_coordinator
from kbroker.handlers._authz import Operation, ResourceType, allowed
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 11, 0, 9


async def handle(ctx: RequestContext, request: dict) -> dict:
    if not allowed(ctx, Operation.READ, ResourceType.GROUP, request["group_id"]):
        return {"throttle_time_ms": 0, "error_code": ErrorCode.GROUP_AUTHORIZATION_FAILED, "generation_id": -1,
                "protocol_type": None, "protocol_name": None if ctx.version >= 7 else "", "leader": "",
                "skip_assignment": False, "member_id": request["member_id"] or "", "members": []}
    coordinator = group_coordinator(ctx.broker)
    if request["group_id"] and share_coordinator(ctx.broker).is_share_group(request["group_id"]):
        # the id belongs to a share group: Kafka refuses a classic member of another group type so
        return {"throttle_time_ms": 0, "error_code": ErrorCode.INCONSISTENT_GROUP_PROTOCOL, "generation_id": -1,
                "protocol_name": None if ctx.version >= 7 else "", "leader": "",
                "member_id": request["member_id"] or "", "members": []}
    session_timeout = request["session_timeout_ms"]
    rebalance_timeout = request["rebalance_timeout_ms"] if ctx.version >= 1 else session_timeout
    if rebalance_timeout < 0:
        rebalance_timeout = session_timeout
    waiter = coordinator.join_group(
        version=ctx.version,
        group_id=request["group_id"],
        member_id=request["member_id"] or "",
        group_instance_id=request.get("group_instance_id") if ctx.version >= 5 else None,
        session_timeout_ms=session_timeout,
        rebalance_timeout_ms=rebalance_timeout,
        protocol_type=request["protocol_type"] or "",
        protocols=[(p["name"], bytes(p["metadata"] or b"")) for p in request["protocols"]],
        client_id=client_id(ctx),
        client_host=client_host(ctx),
        reason=request.get("reason") if ctx.version >= 8 else None,
    )
    response = await coordinator.park(waiter, coordinator.join_bound_ms(request["group_id"], rebalance_timeout))
    if response is None:
        response = {"error_code": ErrorCode.REBALANCE_IN_PROGRESS, "member_id": request["member_id"] or ""}
    body = {
        "throttle_time_ms": 0,
        "error_code": response["error_code"],
        "generation_id": response.get("generation_id", -1),
        "protocol_type": response.get("protocol_type"),
        "protocol_name": response.get("protocol_name"),
        "leader": response.get("leader") or "",
        "skip_assignment": bool(response.get("skip_assignment")),
        "member_id": response.get("member_id") or "",
        "members": response.get("members") or [],
    }
    if ctx.version < 7 and body["protocol_name"] is None:
        body["protocol_name"] = ""  # nullable only from v7
    return body
