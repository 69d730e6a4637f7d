"""Topic-config checks and rewrites on the produce path that Kafka's LogValidator does beyond framing and size:

- message.timestamp.before.max.ms / message.timestamp.after.max.ms: a CreateTime record whose timestamp is too far
  behind or ahead of the broker's clock fails the batch with INVALID_TIMESTAMP;
- cleanup.policy with compact: a record without a key fails the batch with INVALID_RECORD;
- either way the error lists every bad record's index and message (KIP-467, RecordValidationError), which the
  Produce response carries in `record_errors` so that clients fail only those records;
- compression.type other than producer: every batch not already in that codec is recompressed (uncompressed:
  decompressed) at the topic's compression.<codec>.level (KIP-390), keeping offsets deltas, timestamps, headers
  and the producer id / epoch / sequence.

The partition calls `apply` once per produce, with the policy of the topic (`for_topic`) and the batches it has
validated; the common case (delete policy, producer compression, no lower timestamp bound) returns at once
without decoding a record: the upper timestamp bound is checked against each batch's maxTimestamp when the
header can be trusted (wire.record_timestamps.max_timestamp_trusted), else against a scan of the records' timestamps.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from wire import record_timestamps
from wire import records as rec
from wire.errors import ErrorCode, KafkaError

if TYPE_CHECKING:
    from kbroker.broker import Broker

LONG_MAX = 2**63 - 1
CODECS = {"uncompressed": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


@dataclass(frozen=True)
class ProducePolicy:
    topic: str
    partition: int
    target_codec: int | None  # None: keep the producer's
    log_append_time: bool
    before_max_ms: int
    after_max_ms: int
    compacted: bool
    max_message_bytes: int = 2**31 - 1
    compression_level: int | None = None  # compression.<codec>.level of the target codec (KIP-390)


# per (topic, partition), on the broker (attribute _produce_policies): (the topic's configs dict, the broker's resolved values
# dict, the policy). Both dicts are replaced, never changed in place, when a config changes
# (MetadataStore.set_configs, BrokerConfig._recompute), so an identity check tells whether the cached policy is
# still the one in force.
_CACHE = "_produce_policies"


def for_topic(broker: "Broker", topic: str, partition: int = 0) -> ProducePolicy:
    """The policy of a topic as its configs stand now (they may change at any time). Resolving the six keys
    through the config layers took ~9 % of the broker's time per Produce request, so it is cached per topic and
    recomputed when either the topic's or the broker's configs change."""
    configs = broker.metadata.topics[topic].configs
    values = broker.config.values
    per_broker = broker.__dict__.get(_CACHE)
    if per_broker is None:
        per_broker = {}
        setattr(broker, _CACHE, per_broker)
    hit = per_broker.get((topic, partition))
    if hit is not None and hit[0] is configs and hit[1] is values:
        return hit[2]
    policy = _resolve(broker, topic, partition, configs)
    per_broker[topic, partition] = (configs, values, policy)
    return policy


def _resolve(broker: "Broker", topic: str, partition: int, configs: dict[str, str]) -> ProducePolicy:
    from kbroker.topic_config import cleanup_policy, value_of

    codec = value_of("compression.type", configs, broker.config)
    return ProducePolicy(
        topic=topic,
        partition=partition,
        target_codec=CODECS.get(codec),
        log_append_time=value_of("message.timestamp.type", configs, broker.config) == "LogAppendTime",
        before_max_ms=int(value_of("message.timestamp.before.max.ms", configs, broker.config)),
        after_max_ms=int(value_of("message.timestamp.after.max.ms", configs, broker.config)),
        compacted=cleanup_policy(configs, broker.config)[1],
        max_message_bytes=int(value_of("max.message.bytes", configs, broker.config)),
        compression_level=(int(value_of(f"compression.{codec}.level", configs, broker.config))
                           if codec in ("gzip", "lz4", "zstd") else None),
    )


def apply(records: bytes | bytearray | memoryview, batches: list[tuple[int, rec.BatchHeader]], policy: ProducePolicy,
          now_ms: int) -> tuple[bytes | bytearray | memoryview, list[tuple[int, rec.BatchHeader]]]:
    """Check (KafkaError INVALID_TIMESTAMP / INVALID_RECORD) and, for broker-side compression, rewrite the batches.
    Returns the records to append and their (position, header) list (the same objects when nothing changed)."""
    target = policy.target_codec
    recompress = target is not None and any(header.compression != target for _, header in batches)
    out = bytearray()
    for position, header in batches:
        batch = memoryview(records)[position:position + header.size]
        decoded = None
        if policy.compacted or _timestamps_out_of_bounds(batch, header, policy, now_ms):
            decoded = rec.decode_records(batch, verify_crc=False)
            _check_records(header, decoded, policy, now_ms)
        if recompress:
            if header.compression != target:
                if decoded is None:
                    decoded = rec.decode_records(batch, verify_crc=False)
                out += _recompress(header, decoded, target, policy.compression_level)
            else:
                out += batch
    if not recompress:
        return records, batches
    return out, list(rec.iter_batches(out))


def _timestamps_out_of_bounds(batch: memoryview, header: rec.BatchHeader, policy: ProducePolicy, now_ms: int) -> bool:
    """Whether a record of the batch may break the topic's timestamp bounds (the records are then decoded for the
    errors): from the header alone when it can be trusted and only the upper bound is set, else from a scan of
    the records' timestamps that skips keys and values."""
    if policy.log_append_time or header.is_log_append_time:
        return False
    if policy.before_max_ms >= LONG_MAX and policy.after_max_ms >= LONG_MAX:
        return False
    if policy.before_max_ms >= LONG_MAX and record_timestamps.max_timestamp_trusted(header):
        return header.max_timestamp - now_ms > policy.after_max_ms
    found = record_timestamps.record_timestamp_range(batch)
    if found is None:
        return False
    low, high = found
    return now_ms - low > policy.before_max_ms or high - now_ms > policy.after_max_ms


class RecordValidationError(KafkaError):
    """Records of a batch that the topic refuses (KIP-467): the batch fails as a whole, and the Produce response
    (v8+) lists each bad record's index in the batch with its message in `record_errors`."""

    def __init__(self, code: ErrorCode, message: str, record_errors: list[tuple[int, str]]) -> None:
        super().__init__(code, message)
        self.record_errors = record_errors


def _check_records(header: rec.BatchHeader, records: list[rec.Record], policy: ProducePolicy, now_ms: int) -> None:
    """Every record's key (compacted topics) and timestamp (bounds), as Kafka's LogValidator checks them: one
    error a record, the key first; RecordValidationError listing them all if any record fails."""
    check_time = not policy.log_append_time and not header.is_log_append_time
    errors: list[tuple[int, str]] = []
    bad_timestamp = False
    for index, record in enumerate(records):
        if policy.compacted and record.key is None:
            errors.append((index, "Compacted topic cannot accept message without key in topic partition "
                                  f"{policy.topic}-{policy.partition}."))
            continue
        if not check_time:
            continue
        timestamp = header.base_timestamp + record.timestamp_delta
        if timestamp == rec.NO_TIMESTAMP:
            continue
        if now_ms - timestamp > policy.before_max_ms or timestamp - now_ms > policy.after_max_ms:
            bad_timestamp = True
            errors.append((index, f"Timestamp {timestamp} of message with offset {record.offset_delta} is out of "
                                  f"range. The timestamp should be within [{now_ms - min(policy.before_max_ms, now_ms)}, "
                                  f"{min(now_ms + policy.after_max_ms, LONG_MAX)}]"))
    if not errors:
        return
    if bad_timestamp:
        raise RecordValidationError(ErrorCode.INVALID_TIMESTAMP,
                                    "One or more records have been rejected due to invalid timestamp", errors)
    shown = ", ".join(f"RecordError(batchIndex={index}, message='{message}')" for index, message in errors[:3])
    raise RecordValidationError(ErrorCode.INVALID_RECORD, f"One or more records have been rejected due to "
                                f"{len(errors)} record errors in total, and only showing the first three errors "
                                f"at most: [{shown}]", errors)


def _recompress(header: rec.BatchHeader, records: list[rec.Record], codec: int, level: int | None) -> bytes:
    if records:
        max_timestamp = (header.max_timestamp if header.is_log_append_time
                         else max(header.base_timestamp + r.timestamp_delta for r in records))
    else:
        max_timestamp = header.max_timestamp
    return rec.build_batch(
        records, base_offset=header.base_offset, compression=codec,
        timestamp_type_log_append=header.is_log_append_time, base_timestamp=header.base_timestamp,
        producer_id=header.producer_id, producer_epoch=header.producer_epoch, base_sequence=header.base_sequence,
        transactional=header.is_transactional, control=header.is_control,
        partition_leader_epoch=header.partition_leader_epoch, last_offset_delta=header.last_offset_delta,
        max_timestamp=max_timestamp, compression_level=level,
    )
