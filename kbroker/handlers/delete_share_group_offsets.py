"""DeleteShareGroupOffsets (92), v0: forget a share group's state for whole topics (KIP-932).

The group must exist (GROUP_ID_NOT_FOUND) and have no members (NON_EMPTY_GROUP): top-level errors. Kafka 4.1+
answers per topic; a topic that does not exist, or that the group has no state for, is UNKNOWN_TOPIC_OR_PARTITION.
The next fetch of such a partition starts again from share.auto.offset.reset.
"""
from __future__ import annotations

from kbroker.coordinator.share import share_coordinator
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode, KafkaError

KEY, MIN, MAX = 92, 0, 0


async def handle(ctx: RequestContext, request: dict) -> dict:
    coord = share_coordinator(ctx.broker)
    group_id = request["group_id"]
    base = {"throttle_time_ms": 0, "responses": []}
    if not coord.settings.enabled:
        return {**base, "error_code": ErrorCode.UNSUPPORTED_VERSION, "error_message": "Share groups are disabled."}
    if not group_id:
        return {**base, "error_code": ErrorCode.INVALID_GROUP_ID, "error_message": "The group id is empty."}
    if not coord.is_share_group(group_id):
        return {**base, "error_code": ErrorCode.GROUP_ID_NOT_FOUND, "error_message": f"Group {group_id} not found."}
    if coord.has_members(group_id):
        return {**base, "error_code": ErrorCode.NON_EMPTY_GROUP,
                "error_message": f"Share group {group_id} is not empty."}
    responses = []
    for topic in request["topics"]:
        info = ctx.broker.topic(topic["topic_name"])
        if info is None:
            responses.append({"topic_name": topic["topic_name"], "topic_id": bytes(16),
                              "error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                              "error_message": "This server does not host this topic."})
            continue
        try:
            deleted = coord.delete_offsets(group_id, info.topic_id)
        except KafkaError as exc:
            responses.append({"topic_name": topic["topic_name"], "topic_id": info.topic_id,
                              "error_code": exc.code, "error_message": str(exc)})
            continue
        entry = {"topic_name": topic["topic_name"], "topic_id": info.topic_id, "error_code": 0, "error_message": None}
        if not deleted:
            entry.update(error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                         error_message="There is no offset information to delete.")
        responses.append(entry)
    return {**base, "error_code": 0, "error_message": None, "responses": responses}
