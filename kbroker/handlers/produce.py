"""Produce (0), v0–13: per partition, hand the batches to the partition, report offsets or errors.

v0–2 carry the legacy message formats (magic 0/1), converted to v2 batches before they reach the log; v3+ must
carry v2 batches. v13 names topics by id. acks=0 gets no answer; as Kafka does, an error on an acks=0 request
closes the connection, the only way the client can learn of it.
"""
from __future__ import annotations

from kbroker.broker import now_ms
from kbroker.handlers._util import error_of
from kbroker.server.context import CloseConnection, RequestContext
from wire import records as rec
from wire.errors import ErrorCode, KafkaError

KEY, MIN, MAX = 0, 0, 13


def _convert_legacy(records: bytes | memoryview) -> bytes:
    from wire.legacy import legacy_to_v2

    try:
        return legacy_to_v2(bytes(records))
    except (rec.CorruptRecordError, rec.InvalidRecordError) as exc:
        raise KafkaError(ErrorCode(exc.code), str(exc)) from exc


def _append(ctx: RequestContext, topic: str | None, index: int, records: bytes | None) -> dict:
    broker = ctx.broker
    if topic is None:
        raise KafkaError(ErrorCode.UNKNOWN_TOPIC_ID)
    info = broker.topic(topic)
    part = broker.partition(topic, index)
    if info is None or part is None:
        raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    if info.internal:
        raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, f"Cannot append to internal topic {topic}")
    if records and ctx.version < 3:
        records = _convert_legacy(records)
    result = part.append_records(
        records,
        now_ms=now_ms(),
        max_message_bytes=int(broker.topic_config(topic, "max.message.bytes")),
        log_append_time=broker.topic_config(topic, "message.timestamp.type") == "LogAppendTime",
        one_batch=ctx.version >= 3,
        zstd_allowed=ctx.version >= 7,
    )
    return {
        "index": index,
        "error_code": 0,
        "base_offset": result.base_offset,
        "log_append_time_ms": result.log_append_time_ms,
        "log_start_offset": result.log_start_offset,
    }


async def handle(ctx: RequestContext, request: dict) -> dict | None:
    broker = ctx.broker
    acks = request["acks"]
    failed = False
    responses = []
    for topic in request["topic_data"]:
        name = topic.get("name") or None
        if ctx.version >= 13:
            info = broker.metadata.by_id.get(topic["topic_id"])
            name = info.name if info else None
        results = []
        for part in topic["partition_data"]:
            try:
                if acks not in (0, 1, -1):
                    raise KafkaError(ErrorCode.INVALID_REQUIRED_ACKS)
                results.append(_append(ctx, name, part["index"], part["records"]))
            except KafkaError as exc:
                failed = True
                code, message = error_of(exc)
                results.append({"index": part["index"], "error_code": code, "base_offset": -1,
                                "log_append_time_ms": -1, "log_start_offset": -1, "error_message": message})
        responses.append({"name": topic.get("name", ""), "topic_id": topic.get("topic_id"),
                          "partition_responses": results})
    if acks == 0:
        if failed:
            raise CloseConnection("error on a Produce request with acks=0")
        return None
    return {"responses": responses, "throttle_time_ms": 0}
