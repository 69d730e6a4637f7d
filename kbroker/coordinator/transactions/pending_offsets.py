"""Transactional offset commits (TxnOffsetCommit): written to `__consumer_offsets` as a transactional batch of the
producer, exactly as Kafka writes them, and kept here as pending until the transaction ends: on commit they are
handed to the group coordinator (written again as plain offset commits, before the COMMIT marker), on abort
dropped. At start-up the pending offsets of open transactions are read back from `__consumer_offsets`.
"""
from __future__ import annotations

import logging

from kbroker.coordinator.log_reader import read_records
from kbroker.coordinator.records import (
    OFFSETS_TOPIC,
    OffsetAndMetadata,
    OffsetRecord,
    RecordFormatError,
    decode as decode_offsets_record,
    encode_key as encode_offsets_key,
    encode_value as encode_offsets_value,
)
from kbroker.coordinator.transactions.metadata import PendingOffsets, TopicPartition, TransactionMetadata
from kbroker.coordinator.transactions.partitions import TxnPartitions
from wire import records as rec
from wire.errors import ErrorCode, KafkaError

log = logging.getLogger(__name__)

E = ErrorCode


class TxnOffsets(TxnPartitions):
    """The pending offsets of open transactions, and what happens to them when the transaction ends."""

    def txn_offset_commit(
        self,
        *,
        version: int,
        transactional_id: str,
        group_id: str,
        producer_id: int,
        producer_epoch: int,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
        offsets: list[tuple[str, int, int, int, str | None]],
    ) -> tuple[int, dict[TopicPartition, int]]:
        """offsets: (topic, partition, offset, leader epoch, metadata). Returns (error for all, per-partition)."""
        if not group_id:
            return E.INVALID_GROUP_ID, {}
        try:
            offsets_tp = self.offsets_partition(group_id)
        except KafkaError:
            return E.COORDINATOR_NOT_AVAILABLE, {}
        if self.owns is not None and not self.owns(transactional_id):
            # in a cluster the group's coordinator may not be the transaction's: as Kafka's group coordinator
            # (without KIP-890), it takes the commit as pending until the transaction's marker reaches the
            # offsets partition (on_marker_written)
            error = E.NONE
        else:
            error = self.verify_partition(transactional_id, producer_id, producer_epoch, offsets_tp)
        if error == E.TRANSACTION_ABORTABLE and version >= 5:  # transaction version 2: added implicitly
            error = self.add_partitions(transactional_id, producer_id, producer_epoch, [offsets_tp])
        if error:
            if error == E.PRODUCER_FENCED:
                error = E.INVALID_PRODUCER_EPOCH
            elif error == E.TRANSACTION_ABORTABLE and version < 4:
                error = E.INVALID_TXN_STATE
            elif error in (E.CONCURRENT_TRANSACTIONS, E.COORDINATOR_LOAD_IN_PROGRESS, E.NOT_COORDINATOR):
                error = E.COORDINATOR_NOT_AVAILABLE  # retriable for every client version
            return error, {}
        error = self._validate_group(group_id, member_id, group_instance_id, generation_id)
        if error:
            return error, {}
        gc = self._group_coordinator()
        max_metadata = int(gc.cfg("offset.metadata.max.bytes")) if gc is not None else 4096
        now = self.clock()
        results: dict[TopicPartition, int] = {}
        accepted: dict[TopicPartition, OffsetAndMetadata] = {}
        for topic, partition, offset, leader_epoch, metadata in offsets:
            if metadata is not None and len(metadata) > max_metadata:
                results[(topic, partition)] = E.OFFSET_METADATA_TOO_LARGE
                continue
            accepted[(topic, partition)] = OffsetAndMetadata(offset, leader_epoch, metadata or "", now, None)
            results[(topic, partition)] = E.NONE
        if not accepted:
            return E.NONE, results
        batch = rec.build_batch(
            [rec.Record(i, 0, encode_offsets_key(OffsetRecord(group_id, t, p, v)),
                        encode_offsets_value(OffsetRecord(group_id, t, p, v)))
             for i, ((t, p), v) in enumerate(accepted.items())],
            base_timestamp=now, producer_id=producer_id, producer_epoch=producer_epoch,
            base_sequence=rec.NO_SEQUENCE, transactional=True,
        )
        partition_obj = self.broker.partition(*offsets_tp) if self.broker is not None else None
        if partition_obj is not None:
            try:
                partition_obj.append_coordinator_batch(batch, now_ms=now)
            except KafkaError as exc:
                code = exc.code if exc.code in (E.INVALID_PRODUCER_EPOCH, E.INVALID_TXN_STATE) else E.COORDINATOR_NOT_AVAILABLE
                for tp in accepted:
                    results[tp] = code
                return E.NONE, results
            except Exception:
                log.exception("writing transactional offsets of %s failed", group_id)
                for tp in accepted:
                    results[tp] = E.COORDINATOR_NOT_AVAILABLE
                return E.NONE, results
        pending = self._pending.get(transactional_id)
        if pending is None or pending.producer_id != producer_id:
            pending = self._pending[transactional_id] = PendingOffsets(producer_id)
        pending.by_group.setdefault(group_id, {}).update(accepted)
        return E.NONE, results

    def has_pending_offsets(self, group_id: str, topic: str | None = None, partition: int | None = None) -> bool:
        """Whether an open transaction holds uncommitted offsets of the group (for the partition, if given):
        OffsetFetch with require_stable answers UNSTABLE_OFFSET_COMMIT then."""
        for pending in self._pending.values():
            offsets = pending.by_group.get(group_id)
            if offsets and (topic is None or (topic, partition) in offsets):
                return True
        return False

    def _validate_group(self, group_id: str, member_id: str, instance_id: str | None, generation_id: int) -> int:
        """The group checks of a transactional offset commit, which the group coordinator owns."""
        gc = self._group_coordinator()
        if gc is None:
            return E.NONE
        return int(gc.validate_transactional_offset_commit(group_id=group_id, member_id=member_id,
                                                           group_instance_id=instance_id,
                                                           generation_id=generation_id))

    def _apply_offsets(self, group_id: str, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        """Make committed transactional offsets the group's committed offsets (the group coordinator writes them
        again as plain offset commits). KafkaError when that failed: the completion is retried."""
        gc = self._group_coordinator()
        if gc is not None:
            gc.commit_transactional_offsets(group_id, dict(offsets))

    def _recover_pending_offsets(self, meta: TransactionMetadata) -> None:
        """Read back the offsets an open transaction wrote to `__consumer_offsets` (from the producer's first
        batch of the transaction there, which the partition's producer state knows)."""
        if self.broker is None:
            return

        def skip(header: rec.BatchHeader, offset: int) -> bool:
            return (header.producer_id != meta.producer_id or not header.is_transactional or header.is_control
                    or header.base_offset < offset)

        for topic, index in meta.partitions:
            if topic != OFFSETS_TOPIC:
                continue
            partition = self.broker.partition(topic, index)
            if partition is None:
                continue
            plog = partition.log
            entry = plog.producer_state.last_entry(meta.producer_id)
            if entry is None or entry.current_txn_first_offset is None:
                continue
            start = max(entry.current_txn_first_offset, plog.log_start_offset)
            for record in read_records(plog, start, skip):
                try:
                    stored = decode_offsets_record(record.key, record.value)
                except (RecordFormatError, UnicodeDecodeError):
                    continue
                if isinstance(stored, OffsetRecord) and stored.value is not None:
                    pending = self._pending.get(meta.transactional_id)
                    if pending is None or pending.producer_id != meta.producer_id:
                        pending = self._pending[meta.transactional_id] = PendingOffsets(meta.producer_id)
                    pending.by_group.setdefault(stored.group_id, {})[(stored.topic, stored.partition)] = stored.value

    def on_marker_written(self, producer_id: int, commit: bool, topic: str) -> None:
        """A marker written by someone else (WriteTxnMarkers from an admin client aborting a hanging
        transaction): resolve the pending offsets of that producer if it was in `__consumer_offsets`."""
        if topic != OFFSETS_TOPIC:
            return
        for txn_id, pending in list(self._pending.items()):
            if pending.producer_id != producer_id:
                continue
            if commit:
                try:
                    for group_id, offsets in pending.by_group.items():
                        self._apply_offsets(group_id, offsets)
                except KafkaError as exc:
                    log.warning("offsets of producer %d not committed: %s", producer_id, exc)
                    return
            del self._pending[txn_id]

