"""Where the transaction coordinator's durable state goes: `__transaction_state` (or a list, for unit tests).

Each change of a transactional id's metadata is one record (kbroker.coordinator.transactions.records) appended to
the partition of `__transaction_state` that owns the id before the change takes effect; at start-up every
partition is replayed and the last record of each id wins (a null value removes it). The topic is created
(compacted, `transaction.state.log.num.partitions` partitions) on first use.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Iterator, Protocol

from kbroker.coordinator.transactions.records import (
    TRANSACTION_STATE_TOPIC,
    TxnLogValue,
    TxnRecordError,
    decode_key,
    decode_value,
    encode_key,
    encode_value,
)
from kbroker.coordinator.log_reader import read_records
from kbroker.coordinator.records import partition_for
from wire import records as rec
from wire.errors import ErrorCode, KafkaError

if TYPE_CHECKING:
    from kbroker.broker import Broker

log = logging.getLogger(__name__)


class TxnStore(Protocol):
    def replay(self) -> Iterator[tuple[str, TxnLogValue | None]]:
        """Every record stored, oldest first."""
        ...

    def append(self, transactional_id: str, value: TxnLogValue | None, now_ms: int) -> None:
        """Store one record durably; KafkaError if that is not possible."""
        ...

    def coordinator_epoch(self, transactional_id: str) -> int:
        ...


class MemoryTxnStore:
    def __init__(self) -> None:
        self.records: list[tuple[str, TxnLogValue | None]] = []

    def replay(self) -> Iterator[tuple[str, TxnLogValue | None]]:
        return iter(list(self.records))

    def append(self, transactional_id: str, value: TxnLogValue | None, now_ms: int) -> None:
        self.records.append((transactional_id, value))

    def coordinator_epoch(self, transactional_id: str) -> int:
        return 0


class LogTxnStore:
    def __init__(self, broker: "Broker", num_partitions: int = 50, segment_bytes: int = 104857600) -> None:
        self.broker = broker
        self.num_partitions = num_partitions
        self.segment_bytes = segment_bytes

    def partitions(self) -> int | None:
        info = self.broker.topic(TRANSACTION_STATE_TOPIC)
        return None if info is None else info.partitions

    def ensure_topic(self) -> int:
        configs = {"segment.bytes": str(self.segment_bytes), "min.insync.replicas": "1",
                   "unclean.leader.election.enable": "false"}
        return self.broker.ensure_internal_topic(TRANSACTION_STATE_TOPIC, self.num_partitions, configs)

    def _partition(self, transactional_id: str):  # type: ignore[no-untyped-def]
        index = partition_for(transactional_id, self.ensure_topic())
        partition = self.broker.partition(TRANSACTION_STATE_TOPIC, index)
        if partition is None:
            raise KafkaError(ErrorCode.COORDINATOR_NOT_AVAILABLE, f"{TRANSACTION_STATE_TOPIC}-{index} is not available")
        return partition

    def coordinator_epoch(self, transactional_id: str) -> int:
        count = self.partitions()
        if count is None:
            return 0
        partition = self.broker.partition(TRANSACTION_STATE_TOPIC, partition_for(transactional_id, count))
        return 0 if partition is None else partition.leader_epoch

    def append(self, transactional_id: str, value: TxnLogValue | None, now_ms: int) -> None:
        try:
            partition = self._partition(transactional_id)
        except KafkaError:
            raise
        except Exception as exc:  # the topic could not be created (a storage failure): the client retries
            log.exception("cannot create %s", TRANSACTION_STATE_TOPIC)
            raise KafkaError(ErrorCode.COORDINATOR_NOT_AVAILABLE, str(exc)) from exc
        batch = rec.build_batch(
            [rec.Record(0, 0, encode_key(transactional_id), None if value is None else encode_value(value))],
            base_timestamp=now_ms,
        )
        try:
            partition.append_coordinator_batch(batch, now_ms=now_ms)
        except KafkaError:
            raise
        except Exception as exc:  # a storage failure: the client retries
            log.exception("writing transactional id %s to %s-%d failed", transactional_id,
                          TRANSACTION_STATE_TOPIC, partition.index)
            raise KafkaError(ErrorCode.COORDINATOR_NOT_AVAILABLE, str(exc)) from exc

    def replay(self) -> Iterator[tuple[str, TxnLogValue | None]]:
        count = self.partitions()
        if count is None:
            return
        for index in range(count):
            partition = self.broker.partition(TRANSACTION_STATE_TOPIC, index)
            if partition is not None:
                yield from self._replay_partition(partition, index)

    def _replay_partition(self, partition, index: int) -> Iterator[tuple[str, TxnLogValue | None]]:  # type: ignore[no-untyped-def]
        plog = partition.log
        for record in read_records(plog, plog.log_start_offset, lambda header, _offset: header.is_control,
                                   f"{TRANSACTION_STATE_TOPIC}-{index}"):
            try:
                txn_id = decode_key(record.key)
                if txn_id is None:
                    continue
                yield txn_id, decode_value(record.value)
            except (TxnRecordError, UnicodeDecodeError) as exc:
                log.warning("skipping an unreadable record of %s-%d: %s", TRANSACTION_STATE_TOPIC, index, exc)
