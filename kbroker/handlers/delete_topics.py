"""DeleteTopics (20), v0–6: by name (v0–5) or by name or id (v6)."""
from __future__ import annotations

from kbroker.handlers._util import error_of
from kbroker.handlers._authz import Operation, ResourceType, allowed
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode, KafkaError

KEY, MIN, MAX = 20, 0, 6

NO_UUID = bytes(16)


async def handle(ctx: RequestContext, request: dict) -> dict:
    broker = ctx.broker
    if ctx.version >= 6:
        wanted = [(t["name"], t["topic_id"]) for t in request["topics"]]
    else:
        wanted = [(name, NO_UUID) for name in request["topic_names"]]
    results = []
    for name, topic_id in wanted:
        entry = {"name": name, "topic_id": topic_id, "error_code": 0, "error_message": None}
        try:
            if name is None:
                info = broker.metadata.by_id.get(topic_id)
                if info is None:
                    raise KafkaError(ErrorCode.UNKNOWN_TOPIC_ID)
                name = entry["name"] = info.name
            if not allowed(ctx, Operation.DELETE, ResourceType.TOPIC, name):
                raise KafkaError(ErrorCode.TOPIC_AUTHORIZATION_FAILED, "Authorization failed.")
            if broker.cluster is not None:  # every broker drops it when the cluster metadata says so
                info = broker.check_delete_topic(name)
                await broker.cluster.delete_topic(name)
            else:
                info = broker.delete_topic(name)
            entry["topic_id"] = info.topic_id
        except KafkaError as exc:
            entry["error_code"], entry["error_message"] = error_of(exc)
        results.append(entry)
    return {"throttle_time_ms": 0, "responses": results}
