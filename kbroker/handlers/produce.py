"""Produce (0), v0–13: per partition, hand the batches to the partition, report offsets or errors.

v0–2 carry the legacy message formats (magic 0/1), converted to v2 batches before they reach the log; v3+ must
carry v2 batches. v13 names topics by id. acks=0 gets no answer; as Kafka does, an error on an acks=0 request
closes the connection, the only way the client can learn of it.

Idempotence (the partition's log checks sequences and epochs): a retried batch is acknowledged with the offsets it
got the first time. Transactions: a producer's first batch of a transaction in a partition is checked with the
transaction coordinator (KIP-890, `transaction.partition.verification.enable`): a partition not added to the
transaction gets INVALID_TXN_STATE (v0–10) or TRANSACTION_ABORTABLE, a fenced epoch INVALID_PRODUCER_EPOCH, a
coordinator busy completing the previous transaction NOT_ENOUGH_REPLICAS (retried by every client). From v12
(transaction version 2) the partition is added to the transaction instead.
"""
from __future__ import annotations

import logging
from dataclasses import replace

from kbroker import produce_policy
from kbroker.broker import now_ms
from kbroker.cluster import view
from kbroker.coordinator.transactions import transaction_coordinator
from kbroker.durability import flush_if_due
from kbroker.handlers._authz import Operation, ResourceType, allowed
from kbroker.handlers._util import error_of
from kbroker.server.context import CloseConnection, RequestContext
from wire import records as rec
from wire.errors import ErrorCode, KafkaError

KEY, MIN, MAX = 0, 0, 13
log = logging.getLogger(__name__)
_failures_logged: set[tuple[str, str]] = set()  # kinds of unexpected append failures already logged in full

_RETRIABLE_VERIFY = (ErrorCode.CONCURRENT_TRANSACTIONS, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
                     ErrorCode.COORDINATOR_NOT_AVAILABLE, ErrorCode.NOT_COORDINATOR)


def _convert_legacy(records: bytes | memoryview) -> bytes:
    from wire.legacy import legacy_to_v2

    try:
        return legacy_to_v2(bytes(records))
    except (rec.CorruptRecordError, rec.InvalidRecordError) as exc:
        raise KafkaError(ErrorCode(exc.code), str(exc)) from exc


def _verifier(ctx: RequestContext, transactional_id: str | None, topic: str, index: int):  # type: ignore[no-untyped-def]
    if not transactional_id:
        return None
    coordinator = transaction_coordinator(ctx.broker)
    if not coordinator.verification_enabled:
        return None

    def verify(producer_id: int, producer_epoch: int) -> int:
        error = coordinator.verify_partition(transactional_id, producer_id, producer_epoch, (topic, index))
        if error == ErrorCode.TRANSACTION_ABORTABLE and ctx.version >= 12:
            error = coordinator.add_partitions(transactional_id, producer_id, producer_epoch, [(topic, index)])
        if error == ErrorCode.TRANSACTION_ABORTABLE and ctx.version <= 10:
            return ErrorCode.INVALID_TXN_STATE
        if error == ErrorCode.PRODUCER_FENCED:
            return ErrorCode.INVALID_PRODUCER_EPOCH
        if error in _RETRIABLE_VERIFY:
            return ErrorCode.NOT_ENOUGH_REPLICAS
        return error

    return verify


def _append(ctx: RequestContext, topic: str | None, index: int, records: bytes | None,
            transactional_id: str | None, policy: produce_policy.ProducePolicy | None, acks: int,
            waits: list) -> dict:
    broker = ctx.broker
    if topic is None:
        raise KafkaError(ErrorCode.UNKNOWN_TOPIC_ID)
    info = broker.topic(topic)
    if info is None or policy is None:
        raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    part = view.require_leader(broker, topic, index, broker.partition(topic, index))
    if info.internal:
        raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, f"Cannot append to internal topic {topic}")
    if acks == -1:
        view.check_enough_replicas(broker, part)
    if records and ctx.version < 3:
        records = _convert_legacy(records)
    result = part.append_records(
        records,
        now_ms=now_ms(),
        one_batch=ctx.version >= 3,
        zstd_allowed=ctx.version >= 7,
        verify_txn=_verifier(ctx, transactional_id, topic, index) if ctx.version >= 3 else None,
        policy=replace(policy, partition=index),
    )
    entry = {
        "index": index,
        "error_code": 0,
        "base_offset": result.base_offset,
        "log_append_time_ms": result.log_append_time_ms,
        "log_start_offset": result.log_start_offset,
    }
    if acks == -1:  # answered once the ISR has it (a lone broker: at once)
        waits.append((entry, part, part.log.log_end_offset - 1, part.leader_epoch))
    return entry


def _log_failure(topic: str | None, index: int, exc: Exception) -> None:
    """The traceback once per kind of failure (every partition of every Produce would repeat it), then a line."""
    kind = (type(exc).__qualname__, str(exc)[:200])
    if kind in _failures_logged or len(_failures_logged) >= 100:
        log.debug("Produce to %s-%d failed again: %r", topic, index, exc)
        return
    _failures_logged.add(kind)
    log.error("Produce to %s-%d failed; answering UNKNOWN_SERVER_ERROR for that partition (logged once per kind)",
              topic, index, exc_info=exc)


def _record_errors(exc: KafkaError) -> list[dict]:
    """KIP-467: the bad records of a refused batch, by index, for the clients to fail only those."""
    if not isinstance(exc, produce_policy.RecordValidationError):
        return []
    return [{"batch_index": index, "batch_index_error_message": message} for index, message in exc.record_errors]


async def handle(ctx: RequestContext, request: dict) -> dict | None:
    broker = ctx.broker
    acks = request["acks"]
    failed = False
    transactional_id = request.get("transactional_id") if ctx.version >= 3 else None
    # Kafka: WRITE on the transactional id (every partition fails without it), then WRITE on each topic
    txn_denied = bool(transactional_id) and not allowed(ctx, Operation.WRITE, ResourceType.TRANSACTIONAL_ID,
                                                        transactional_id)
    responses = []
    waits: list = []
    for topic in request["topic_data"]:
        name = topic.get("name") or None
        if ctx.version >= 13:
            info = broker.metadata.by_id.get(topic["topic_id"])
            name = info.name if info else None
        # the topic's settings, read once per request rather than per partition
        policy = produce_policy.for_topic(broker, name) if name in broker.metadata.topics else None
        denied = ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED if txn_denied else \
            ErrorCode.TOPIC_AUTHORIZATION_FAILED if name is not None and not allowed(
                ctx, Operation.WRITE, ResourceType.TOPIC, name) else None
        results = []
        for part in topic["partition_data"]:
            try:
                if denied is not None:
                    raise KafkaError(denied)
                if acks not in (0, 1, -1):
                    raise KafkaError(ErrorCode.INVALID_REQUIRED_ACKS)
                result = _append(ctx, name, part["index"], part["records"], transactional_id, policy, acks, waits)
                await flush_if_due(broker.partition(name, part["index"]).log)  # type: ignore[arg-type, union-attr]
                results.append(result)
            except KafkaError as exc:
                failed = True
                code, message = error_of(exc)
                results.append({"index": part["index"], "error_code": code, "base_offset": -1,
                                "log_append_time_ms": -1, "log_start_offset": -1, "error_message": message,
                                "record_errors": _record_errors(exc)})
                if code == ErrorCode.NOT_LEADER_OR_FOLLOWER and name is not None:
                    results[-1]["current_leader"] = view.current_leader(broker, name, part["index"])
            except Exception as exc:  # a bug costs this partition only, as in Kafka's appendToLocalLog
                failed = True
                _log_failure(name, part["index"], exc)
                results.append({"index": part["index"], "error_code": ErrorCode.UNKNOWN_SERVER_ERROR,
                                "base_offset": -1, "log_append_time_ms": -1, "log_start_offset": -1,
                                "error_message": "Unexpected error appending to the partition", "record_errors": []})
        responses.append({"name": topic.get("name", ""), "topic_id": topic.get("topic_id"),
                          "partition_responses": results})
    if waits:
        await view.await_replication(broker, waits, request["timeout_ms"])
    produced = sum(len(p["records"] or b"") for t in request["topic_data"] for p in t["partition_data"])
    throttle_ms = broker.quotas.record_produce(ctx.header.client_id, produced)
    if acks == 0:  # no answer, but the bytes count against the quota and a throttle still mutes (KIP-219)
        if failed:
            raise CloseConnection("error on a Produce request with acks=0")
        ctx.unanswered_throttle_ms = throttle_ms
        return None
    response = {"responses": responses, "throttle_time_ms": throttle_ms}
    if ctx.version >= 10 and broker.cluster is not None:
        leaders = {p["current_leader"]["leader_id"] for t in responses for p in t["partition_responses"]
                   if "current_leader" in p}
        response["node_endpoints"] = [{"node_id": n.node_id, "host": n.host, "port": n.port, "rack": n.rack}
                                      for n in view.brokers(broker) if n.node_id in leaders]
    return response
