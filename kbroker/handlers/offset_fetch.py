"""OffsetFetch (9), v0–9: a group's committed offsets (-1 where there is none).

v2+ may ask for every committed offset (topics null) and carry a group-level error; v7 require_stable (a partition
with a transactional offset commit still pending answers UNSTABLE_OFFSET_COMMIT); v8+ ask for several groups at
once; v9 name the KIP-848 member and epoch asking (checked against the group).
"""
from __future__ import annotations

from kbroker.coordinator import group_coordinator
from kbroker.server.context import RequestContext

KEY, MIN, MAX = 9, 0, 9


def _topics_of(raw) -> list[tuple[str, list[int]]] | None:  # type: ignore[no-untyped-def]
    if raw is None:
        return None
    return [(t["name"], list(t["partition_indexes"])) for t in raw]


def _rows(result) -> list[dict]:  # type: ignore[no-untyped-def]
    return [
        {"name": topic,
         "partitions": [{"partition_index": p, "committed_offset": offset, "committed_leader_epoch": epoch,
                         "metadata": metadata, "error_code": error}
                        for p, offset, epoch, metadata, error in rows]}
        for topic, rows in result
    ]


async def handle(ctx: RequestContext, request: dict) -> dict:
    coordinator = group_coordinator(ctx.broker)
    version = ctx.version
    require_stable = bool(request.get("require_stable")) if version >= 7 else False
    if version >= 8:
        groups = []
        for g in request["groups"]:
            error, result = coordinator.fetch_offsets(
                g["group_id"], _topics_of(g["topics"]), require_stable=require_stable,
                member_id=g.get("member_id") if version >= 9 else None,
                member_epoch=g.get("member_epoch", -1) if version >= 9 else -1)
            groups.append({"group_id": g["group_id"], "topics": _rows(result), "error_code": error})
        return {"throttle_time_ms": 0, "groups": groups}
    topics = _topics_of(request["topics"])
    error, result = coordinator.fetch_offsets(request["group_id"], topics, require_stable=require_stable)
    if error and version < 2:
        # no group-level error before v2: every partition asked for carries it
        result = [(t, [(p, -1, -1, "", error) for p in parts]) for t, parts in (topics or [])]
        error = 0
    return {"throttle_time_ms": 0, "topics": _rows(result), "error_code": error}
