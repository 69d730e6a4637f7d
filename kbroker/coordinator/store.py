"""Where the group coordinator's durable state goes: a narrow interface and two engines.

The coordinator keeps all state in memory and writes each change (an offset commit or deletion, a classic group's
metadata or its deletion) through an OffsetStore before answering; at start it replays what the store holds.

- MemoryOffsetStore: keeps the records in a list (a broker run with --in-memory, and tests).
- LogOffsetStore: appends Kafka's key/value records (kbroker.coordinator.records) to the partition of
  `__consumer_offsets` that owns the group (abs(hashCode) % partitions), creating the topic (compacted) on first
  use, and replays every partition of it at start-up.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Iterator, Protocol, Sequence

from kbroker.coordinator.log_reader import read_records
from kbroker.coordinator.records import (
    OFFSETS_TOPIC,
    RecordFormatError,
    StoredRecord,
    decode,
    encode_key,
    encode_value,
    partition_for,
)
from wire import records as rec
from wire.errors import ErrorCode, KafkaError

if TYPE_CHECKING:
    from kbroker.broker import Broker

log = logging.getLogger(__name__)

OFFSETS_TOPIC_SEGMENT_BYTES = 104857600  # Kafka's offsets.topic.segment.bytes default


class OffsetStore(Protocol):
    def replay(self) -> Iterator[StoredRecord]:
        """Every record stored, oldest first (later ones win)."""
        ...

    def append(self, group_id: str, records: Sequence[StoredRecord], now_ms: int) -> None:
        """Store records of one group durably, all or none; KafkaError if that is not possible."""
        ...


class MemoryOffsetStore:
    def __init__(self) -> None:
        self.records: list[StoredRecord] = []

    def replay(self) -> Iterator[StoredRecord]:
        return iter(list(self.records))

    def append(self, group_id: str, records: Sequence[StoredRecord], now_ms: int) -> None:
        self.records.extend(records)


class LogOffsetStore:
    """`__consumer_offsets` in the broker's own partition logs."""

    def __init__(self, broker: "Broker") -> None:
        self.broker = broker

    # -- the topic

    def partitions(self) -> int | None:
        info = self.broker.topic(OFFSETS_TOPIC)
        return None if info is None else info.partitions

    def ensure_topic(self) -> int:
        """The partition count of __consumer_offsets, creating the topic if it does not exist yet."""
        try:
            segment_bytes = int(self.broker.config["offsets.topic.segment.bytes"])
        except (KeyError, TypeError, ValueError):
            segment_bytes = OFFSETS_TOPIC_SEGMENT_BYTES
        wanted = int(self.broker.config["offsets.topic.num.partitions"])
        return self.broker.ensure_internal_topic(OFFSETS_TOPIC, wanted, {"segment.bytes": str(segment_bytes)})

    # -- OffsetStore

    def append(self, group_id: str, records: Sequence[StoredRecord], now_ms: int) -> None:
        if not records:
            return
        count = self.ensure_topic()
        index = partition_for(group_id, count)
        partition = self.broker.partition(OFFSETS_TOPIC, index)
        if partition is None:
            raise KafkaError(ErrorCode.COORDINATOR_NOT_AVAILABLE, f"{OFFSETS_TOPIC}-{index} is not available")
        batch = rec.build_batch(
            [rec.Record(i, 0, encode_key(r), encode_value(r)) for i, r in enumerate(records)],
            base_timestamp=now_ms,
        )
        try:
            partition.append_coordinator_batch(batch, now_ms=now_ms)
        except KafkaError:
            raise
        except Exception as exc:  # a storage failure: the client retries, as Kafka's do after an append error
            log.exception("writing group %s to %s-%d failed", group_id, OFFSETS_TOPIC, index)
            raise KafkaError(ErrorCode.COORDINATOR_NOT_AVAILABLE, str(exc)) from exc

    def replay(self) -> Iterator[StoredRecord]:
        count = self.partitions()
        if count is None:
            return
        for index in range(count):
            partition = self.broker.partition(OFFSETS_TOPIC, index)
            if partition is None:
                continue
            yield from self._replay_partition(partition, index)

    def _replay_partition(self, partition, index: int) -> Iterator[StoredRecord]:  # type: ignore[no-untyped-def]
        def skip(header: rec.BatchHeader, _offset: int) -> bool:
            # transactional offset commits are pending until their transaction commits; the transaction
            # coordinator reads open ones back itself and has committed ones written again as plain records
            # (GroupCoordinator.commit_transactional_offsets)
            return header.is_control or header.is_transactional

        plog = partition.log
        for record in read_records(plog, plog.log_start_offset, skip, f"{OFFSETS_TOPIC}-{index}"):
            try:
                stored = decode(record.key, record.value)
            except (RecordFormatError, UnicodeDecodeError) as exc:
                log.warning("skipping an unreadable record of %s-%d: %s", OFFSETS_TOPIC, index, exc)
                continue
            if stored is not None:
                yield stored
