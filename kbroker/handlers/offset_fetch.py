"""OffsetFetch (9), v0–9: a group's committed offsets (-1 where there is none).

v2+ may ask for every committed offset (topics null) and carry a group-level error; v7 require_stable (a partition
with a transactional offset commit still pending answers UNSTABLE_OFFSET_COMMIT); v8+ ask for several groups at
once; v9 name the KIP-848 member and epoch asking (checked against the group).
"""
from __future__ import annotations

from kbroker.coordinator import group_coordinator
from kbroker.handlers._authz import Operation, ResourceType, allowed
from wire.errors import ErrorCode
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


def _fetch(ctx: RequestContext, coordinator, group_id: str, topics: list[tuple[str, list[int]]] | None,
           **kw) -> tuple[int, list]:  # type: ignore[no-untyped-def]
    """The coordinator's answer with Kafka's checks: DESCRIBE on the group, then on each topic (topics asked for
    by name answer TOPIC_AUTHORIZATION_FAILED; when all are asked for, the others are left out)."""
    if not allowed(ctx, Operation.DESCRIBE, ResourceType.GROUP, group_id):
        return int(ErrorCode.GROUP_AUTHORIZATION_FAILED), []
    may = lambda t: allowed(ctx, Operation.DESCRIBE, ResourceType.TOPIC, t)  # noqa: E731
    asked = None if topics is None else [(t, parts) for t, parts in topics if may(t)]
    error, result = coordinator.fetch_offsets(group_id, asked, **kw)
    if topics is None:
        return error, [(t, rows) for t, rows in result if may(t)]
    denied = [(t, [(p, -1, -1, "", int(ErrorCode.TOPIC_AUTHORIZATION_FAILED)) for p in parts])
              for t, parts in topics if not may(t)]
    return error, list(result) + denied


async def handle(ctx: RequestContext, request: dict) -> dict:
    coordinator = group_coordinator(ctx.broker)
    version = ctx.version
    require_stable = bool(request.get("require_stable")) if version >= 7 else False
    if version >= 8:
        groups = []
        for g in request["groups"]:
            error, result = _fetch(
                ctx, coordinator, g["group_id"], _topics_of(g["topics"]), require_stable=require_stable,
                member_id=g.get("member_id") if version >= 9 else None,
                member_epoch=g.get("member_epoch", -1) if version >= 9 else -1)
            groups.append({"group_id": g["group_id"], "topics": _rows(result), "error_code": error})
        return {"throttle_time_ms": 0, "groups": groups}
    topics = _topics_of(request["topics"])
    error, result = _fetch(ctx, coordinator, request["group_id"], topics, require_stable=require_stable)
    if error and version < 2:
        # no group-level error before v2: every partition asked for carries it
        result = [(t, [(p, -1, -1, "", error) for p in parts]) for t, parts in (topics or [])]
        error = 0
    return {"throttle_time_ms": 0, "topics": _rows(result), "error_code": error}
