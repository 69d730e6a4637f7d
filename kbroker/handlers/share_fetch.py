"""ShareFetch (78), v1–2: acknowledge what the last fetch delivered, then acquire records (KIP-932).

The request works in the member's share session: epoch 0 opens one (the partitions named become the session's),
-1 closes it after its acknowledgements (releasing what the member still holds), any other epoch must be the
session's next one. Topics named add to the session, forgotten ones leave it; the fetch covers the whole
session, and max_records 0 asks for acknowledgement only (librdkafka sends that). Acknowledgements on an opening
request are refused, as Kafka refuses them. v2's RENEW acknowledgement extends a lock; share_acquire_mode is read
but records are always acquired record by record (see known-differences).
"""
from __future__ import annotations

import anyio

from kbroker.coordinator.share import share_coordinator
from kbroker.coordinator.share.fetcher import Acquired, fetch_wait
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 78, 1, 2

_NO_LEADER = {"leader_id": -1, "leader_epoch": -1}


def _partition(ctx: RequestContext, topic_id: bytes, index: int, *, error: int = 0, ack_error: int = 0,
               got: Acquired | None = None) -> dict:
    leader = {"leader_id": ctx.broker.node_id, "leader_epoch": 0}
    info = ctx.broker.metadata.by_id.get(topic_id)
    part = ctx.broker.partition(info.name, index) if info is not None else None
    if part is not None:
        leader["leader_epoch"] = part.leader_epoch
    else:
        leader = dict(_NO_LEADER)
    return {"partition_index": index, "error_code": error or (got.error_code if got else 0),
            "acknowledge_error_code": ack_error, "current_leader": leader,
            "records": got.records if got else b"",
            "acquired_records": [{"first_offset": f, "last_offset": la, "delivery_count": c}
                                 for f, la, c in (got.ranges if got else [])]}


def _error(code: int, message: str) -> dict:
    return {"throttle_time_ms": 0, "error_code": code, "error_message": message, "acquisition_lock_timeout_ms": 0,
            "responses": [], "node_endpoints": []}


async def handle(ctx: RequestContext, request: dict) -> dict:
    coord = share_coordinator(ctx.broker)
    if not coord.settings.enabled:
        return _error(ErrorCode.UNSUPPORTED_VERSION, "Share groups are disabled.")
    group_id, member_id = request["group_id"] or "", request["member_id"] or ""
    epoch = request["share_session_epoch"]
    if not group_id or not member_id:
        return _error(ErrorCode.INVALID_REQUEST, "GroupId and MemberId must be set.")
    acks = {(t["topic_id"], p["partition_index"]): [(b["first_offset"], b["last_offset"], list(b["acknowledge_types"]))
                                                    for b in p["acknowledgement_batches"]]
            for t in request["topics"] for p in t["partitions"] if p["acknowledgement_batches"]}
    if epoch == 0 and acks:
        return _error(ErrorCode.INVALID_REQUEST, "Acknowledgements are not allowed when opening a share session.")
    error, session = coord.open_session(group_id, member_id, epoch, acknowledging=False)
    if error or session is None:
        return _error(error, "The share session is unknown or its epoch is not the expected one.")
    renew = ctx.version >= 2
    ack_errors = {key: coord.acknowledge(group_id, member_id, key[0], key[1], batches, renew_allowed=renew)
                  for key, batches in acks.items()}
    if acks:
        await anyio.sleep(0)  # fetches woken by what these acknowledgements freed acquire before this one does
    lock_ms = coord.settings.lock_ms(group_id)
    if epoch == -1:
        coord.close_session(session)
        results: list[Acquired] = []
    else:
        for t in request["forgotten_topics_data"]:
            for index in t["partitions"]:
                session.partitions.discard((t["topic_id"], index))
        for t in request["topics"]:
            for p in t["partitions"]:
                session.partitions.add((t["topic_id"], p["partition_index"]))
        max_records = request["max_records"]  # 0: the request only acknowledges
        max_bytes = request["max_bytes"] if request["max_bytes"] > 0 else 0x7FFFFFFF
        max_wait = request["max_wait_ms"] if not ack_errors else 0  # acknowledgements are answered at once
        results = [] if max_records <= 0 else await fetch_wait(
            coord, session, max_records=max_records, max_bytes=max_bytes, min_bytes=request["min_bytes"],
            max_wait_ms=max_wait)
    by_key = {(r.topic_id, r.partition): r for r in results}
    topics: dict[bytes, list[dict]] = {}
    for key in sorted(set(by_key) | set(ack_errors)):
        topics.setdefault(key[0], []).append(
            _partition(ctx, key[0], key[1], ack_error=ack_errors.get(key, 0), got=by_key.get(key)))
    return {"throttle_time_ms": 0, "error_code": 0, "acquisition_lock_timeout_ms": lock_ms,
            "responses": [{"topic_id": tid, "partitions": parts} for tid, parts in topics.items()],
            "node_endpoints": []}
