"""ShareAcknowledge (79), v1–2: acknowledge records without fetching (KIP-932).

Works in an open share session (epoch 0 is refused: INVALID_SHARE_SESSION_EPOCH); epoch -1 closes the session
after the acknowledgements. v2 allows RENEW (extend the acquisition lock) and reports the lock duration.
"""
from __future__ import annotations

from kbroker.coordinator.share import share_coordinator
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 79, 1, 2


async def handle(ctx: RequestContext, request: dict) -> dict:
    coord = share_coordinator(ctx.broker)
    base = {"throttle_time_ms": 0, "acquisition_lock_timeout_ms": 0, "responses": [], "node_endpoints": []}
    if not coord.settings.enabled:
        return {**base, "error_code": ErrorCode.UNSUPPORTED_VERSION, "error_message": "Share groups are disabled."}
    group_id, member_id = request["group_id"] or "", request["member_id"] or ""
    epoch = request["share_session_epoch"]
    if not group_id or not member_id:
        return {**base, "error_code": ErrorCode.INVALID_REQUEST, "error_message": "GroupId and MemberId must be set."}
    error, session = coord.open_session(group_id, member_id, epoch, acknowledging=True)
    if error or session is None:
        return {**base, "error_code": error, "error_message": "The share session is unknown or its epoch is not "
                                                              "the expected one."}
    renew = ctx.version >= 2
    responses = []
    for t in request["topics"]:
        parts = []
        for p in t["partitions"]:
            batches = [(b["first_offset"], b["last_offset"], list(b["acknowledge_types"]))
                       for b in p["acknowledgement_batches"]]
            code = coord.acknowledge(group_id, member_id, t["topic_id"], p["partition_index"], batches,
                                     renew_allowed=renew)
            info = ctx.broker.metadata.by_id.get(t["topic_id"])
            part = ctx.broker.partition(info.name, p["partition_index"]) if info is not None else None
            leader = ({"leader_id": ctx.broker.node_id, "leader_epoch": part.leader_epoch} if part is not None
                      else {"leader_id": -1, "leader_epoch": -1})
            parts.append({"partition_index": p["partition_index"], "error_code": code, "current_leader": leader})
        responses.append({"topic_id": t["topic_id"], "partitions": parts})
    if epoch == -1:
        coord.close_session(session)
    return {**base, "error_code": 0, "acquisition_lock_timeout_ms": coord.settings.lock_ms(group_id),
            "responses": responses}
