"""The partitions of a transaction: AddPartitionsToTxn, AddOffsetsToTxn, and KIP-890 verification that a
partition is in the producer's open transaction (which a transactional Produce and TxnOffsetCommit ask for).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Iterable

from kbroker.coordinator.records import OFFSETS_TOPIC, partition_for as offsets_partition_for
from kbroker.coordinator.transactions.metadata import (
    COMPLETED,
    PREPARED,
    TopicPartition,
    TransactionMetadata,
    TxnState,
    storage_error,
)
from kbroker.coordinator.transactions.state import TxnCoordinatorState
from wire.errors import ErrorCode, KafkaError

E = ErrorCode


class TxnPartitions(TxnCoordinatorState):
    """Adding partitions (and a group's offsets partition) to transactions, and verifying them."""

    def _check_producer(self, transactional_id: str, producer_id: int, producer_epoch: int) -> tuple[int, TransactionMetadata | None]:
        if not transactional_id:
            return E.INVALID_REQUEST, None
        if self.owns is not None and not self.owns(transactional_id):
            return E.NOT_COORDINATOR, None
        self._ensure_loaded()
        meta = self.txns.get(transactional_id)
        if meta is None or meta.producer_id != producer_id:
            return E.INVALID_PRODUCER_ID_MAPPING, None
        if meta.producer_epoch != producer_epoch:
            return E.PRODUCER_FENCED, None
        return E.NONE, meta

    def add_partitions(self, transactional_id: str, producer_id: int, producer_epoch: int,
                       partitions: Iterable[TopicPartition]) -> int:
        error, meta = self._check_producer(transactional_id, producer_id, producer_epoch)
        if error or meta is None:
            return error
        wanted = frozenset(partitions)
        if meta.state in PREPARED or transactional_id in self._completions:
            return E.CONCURRENT_TRANSACTIONS
        if meta.state == TxnState.ONGOING and wanted <= meta.partitions:
            return E.NONE
        now = self.clock()
        start = now if meta.state in (TxnState.EMPTY, *COMPLETED) else meta.start_ms
        new = replace(meta, state=TxnState.ONGOING, partitions=meta.partitions | wanted, start_ms=start,
                      last_update_ms=now)
        try:
            self._persist(new)
        except KafkaError as exc:
            return storage_error(exc)
        return E.NONE

    def verify_partitions(self, transactional_id: str, producer_id: int, producer_epoch: int,
                          partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """AddPartitionsToTxn verify_only (KIP-890): whether each partition is in the open transaction."""
        wanted = list(partitions)
        error, meta = self._check_producer(transactional_id, producer_id, producer_epoch)
        if not error and meta is not None and (meta.state in PREPARED or transactional_id in self._completions):
            error = E.CONCURRENT_TRANSACTIONS
        if error or meta is None:
            return {tp: int(error) for tp in wanted}
        return {tp: int(E.NONE if tp in meta.partitions else E.TRANSACTION_ABORTABLE) for tp in wanted}

    def verify_partition(self, transactional_id: str, producer_id: int, producer_epoch: int,
                         partition: TopicPartition) -> int:
        return self.verify_partitions(transactional_id, producer_id, producer_epoch, [partition])[partition]

    @property
    def verification_enabled(self) -> bool:
        # in a cluster a partition's leader would have to ask the coordinator's broker (not done: see
        # docs/known-differences.md), so transactional batches are not verified there
        return bool(self.cfg("transaction.partition.verification.enable")) and self.remote_markers is None

    def offsets_partition(self, group_id: str) -> TopicPartition:
        """The `__consumer_offsets` partition of a group (created if the topic does not exist yet)."""
        gc = self._group_coordinator()
        if gc is not None:
            gc.ensure_offsets_topic()
        info = self.broker.topic(OFFSETS_TOPIC) if self.broker is not None else None
        count = info.partitions if info is not None else 50
        return OFFSETS_TOPIC, offsets_partition_for(group_id, count)

    def add_offsets(self, transactional_id: str, producer_id: int, producer_epoch: int, group_id: str) -> int:
        try:
            tp = self.offsets_partition(group_id)
        except KafkaError as exc:
            return E.COORDINATOR_NOT_AVAILABLE if exc.code == E.UNKNOWN_SERVER_ERROR else exc.code
        return self.add_partitions(transactional_id, producer_id, producer_epoch, [tp])

