"""Idempotent and transactional producer state of one partition log (Kafka's ProducerStateManager,
ProducerStateEntry and ProducerAppendInfo: behaviour, not code).

Per producer id the log keeps the producer epoch, the metadata of its last five batches (sequence range, offsets,
timestamp) and, while a transaction of that producer is open in this partition, the offset of its first record.
That is enough to:

- acknowledge a retried batch with the offsets it got the first time instead of writing it again (a batch whose
  epoch and exact sequence range match one of the five retained),
- refuse a batch whose sequence does not follow the last one (OUT_OF_ORDER_SEQUENCE_NUMBER), or whose epoch is
  older than the producer's (INVALID_PRODUCER_EPOCH); a producer the partition knows nothing of (new, expired, or
  its data deleted) may start at any sequence, as in Kafka since KIP-360;
- compute the last stable offset: the first offset of the earliest transaction still open in the partition;
- build the transaction index entry of an aborted transaction when its marker is written.

The state is a function of the log. It is snapshotted (`<offset>.snapshot`, the state after every batch below
offset) when a segment rolls and at a clean close; at start-up the newest snapshot is loaded and the batches after
it are replayed (the loader does that), so duplicates are still recognised after a restart.

Snapshot files use the layout of Kafka's ProducerSnapshot version 1 (version int16, CRC-32C uint32 of the rest,
int32 count, then per entry producerId int64, epoch int16, lastSequence int32, lastOffset int64, offsetDelta int32,
timestamp int64, coordinatorEpoch int32, currentTxnFirstOffset int64), with one entry per retained batch, oldest
first, where Kafka writes only the newest: Kafka reading such a file keeps the last entry of each producer (exactly
what it would have written), kbroker keeps all five.
"""
from __future__ import annotations

import logging
import struct
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Iterable

import crc32c

from wire.errors import ErrorCode, KafkaError
from wire.records import NO_SEQUENCE

from .storage import Directory

log = logging.getLogger(__name__)

NUM_BATCHES_TO_RETAIN = 5
NO_PRODUCER_EPOCH = -1
INT32_MAX = 2**31 - 1
DEFAULT_PRODUCER_ID_EXPIRATION_MS = 86_400_000
SNAPSHOT_SUFFIX = ".snapshot"

_SNAPSHOT_VERSION = 1
_SNAP_HEADER = struct.Struct(">hIi")  # version, crc, entry count
_SNAP_ENTRY = struct.Struct(">qhiqiqiq")
_CRC_START = 6  # version(2) + crc(4)


class AppendOrigin(Enum):
    CLIENT = "client"
    """A producer's batch: sequence, epoch and duplicates are checked."""
    COORDINATOR = "coordinator"
    """Written by a coordinator (transaction markers, transactional offset commits): epochs are checked."""
    REPLICATION = "replication"
    """Replayed from the log (recovery) or copied from a leader: taken as it is."""


def snapshot_file_name(offset: int) -> str:
    return f"{offset:020d}{SNAPSHOT_SUFFIX}"


def parse_snapshot_file_name(name: str) -> int | None:
    if not name.endswith(SNAPSHOT_SUFFIX):
        return None
    stem = name[: -len(SNAPSHOT_SUFFIX)]
    if len(stem) != 20 or not stem.isdigit():
        return None
    return int(stem)


class CorruptSnapshotError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class BatchMetadata:
    last_seq: int
    last_offset: int
    offset_delta: int
    timestamp: int

    @property
    def first_seq(self) -> int:
        if self.last_seq == NO_SEQUENCE:
            return NO_SEQUENCE
        return decrement_sequence(self.last_seq, self.offset_delta)

    @property
    def first_offset(self) -> int:
        return self.last_offset - self.offset_delta


def decrement_sequence(sequence: int, decrement: int) -> int:
    if sequence < decrement:
        return INT32_MAX - (decrement - sequence) + 1
    return sequence - decrement


@dataclass(slots=True)
class ProducerStateEntry:
    producer_id: int
    producer_epoch: int = NO_PRODUCER_EPOCH
    coordinator_epoch: int = -1
    last_timestamp: int = -1
    current_txn_first_offset: int | None = None
    batches: deque[BatchMetadata] = field(default_factory=deque)

    def copy(self) -> ProducerStateEntry:
        return ProducerStateEntry(self.producer_id, self.producer_epoch, self.coordinator_epoch, self.last_timestamp,
                                  self.current_txn_first_offset, deque(self.batches))

    @property
    def is_empty(self) -> bool:
        return not self.batches

    @property
    def first_seq(self) -> int:
        return self.batches[0].first_seq if self.batches else NO_SEQUENCE

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else NO_SEQUENCE

    @property
    def last_data_offset(self) -> int:
        return self.batches[-1].last_offset if self.batches else -1

    @property
    def last_offset_delta(self) -> int:
        return self.batches[-1].offset_delta if self.batches else 0

    def maybe_update_epoch(self, epoch: int) -> bool:
        if self.producer_epoch != epoch:
            self.batches.clear()
            self.producer_epoch = epoch
            return True
        return False

    def add_batch(self, epoch: int, last_seq: int, last_offset: int, offset_delta: int, timestamp: int) -> None:
        self.maybe_update_epoch(epoch)
        self._add_metadata(BatchMetadata(last_seq, last_offset, offset_delta, timestamp))
        self.last_timestamp = timestamp

    def _add_metadata(self, batch: BatchMetadata) -> None:
        if len(self.batches) == NUM_BATCHES_TO_RETAIN:
            self.batches.popleft()
        self.batches.append(batch)

    def update_from(self, other: ProducerStateEntry) -> None:
        """Take over what an append built (other started as a copy of this entry's epoch and timestamps)."""
        self.maybe_update_epoch(other.producer_epoch)
        for batch in other.batches:
            self._add_metadata(batch)
        self.coordinator_epoch = other.coordinator_epoch
        self.current_txn_first_offset = other.current_txn_first_offset
        self.last_timestamp = other.last_timestamp

    def find_duplicate(self, epoch: int, first_seq: int, last_seq: int) -> BatchMetadata | None:
        if epoch != self.producer_epoch:
            return None
        for batch in self.batches:
            if batch.first_seq == first_seq and batch.last_seq == last_seq:
                return batch
        return None


@dataclass(slots=True)
class TxnMetadata:
    producer_id: int
    first_offset: int
    last_offset: int | None = None


@dataclass(frozen=True, slots=True)
class CompletedTxn:
    producer_id: int
    first_offset: int
    last_offset: int
    is_aborted: bool


def _in_sequence(last_seq: int, next_seq: int) -> bool:
    return next_seq == last_seq + 1 or (next_seq == 0 and last_seq == INT32_MAX)


class ProducerAppendInfo:
    """The state changes one append makes for one producer, built and validated before anything is written and
    applied (ProducerStateManager.update) only once the append succeeded."""

    def __init__(self, partition: str, producer_id: int, current: ProducerStateEntry, origin: AppendOrigin) -> None:
        self.partition = partition
        self.producer_id = producer_id
        self.current = current
        self.origin = origin
        self.updated = ProducerStateEntry(producer_id, current.producer_epoch, current.coordinator_epoch,
                                          current.last_timestamp, current.current_txn_first_offset)
        self.started: list[TxnMetadata] = []

    def _check_epoch(self, epoch: int, offset: int) -> None:
        if epoch < self.updated.producer_epoch and self.origin is not AppendOrigin.REPLICATION:
            raise KafkaError(
                ErrorCode.INVALID_PRODUCER_EPOCH,
                f"Epoch of producer {self.producer_id} at offset {offset} in {self.partition} is {epoch}, which is "
                f"smaller than the last seen epoch {self.updated.producer_epoch}",
            )

    def _check_sequence(self, epoch: int, first_seq: int, offset: int) -> None:
        if epoch != self.updated.producer_epoch:
            if first_seq != 0 and self.updated.producer_epoch != NO_PRODUCER_EPOCH:
                raise KafkaError(
                    ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
                    f"Invalid sequence number for new epoch of producer {self.producer_id} at offset {offset} in "
                    f"{self.partition}: {epoch} (request epoch), {first_seq} (seq. number), "
                    f"{self.updated.producer_epoch} (current producer epoch)",
                )
            return
        if not self.updated.is_empty:
            current_last = self.updated.last_seq
        elif epoch == self.current.producer_epoch:
            current_last = self.current.last_seq
        else:
            current_last = NO_SEQUENCE
        # no epoch known (new producer, expired, or its data deleted): any sequence is accepted
        if self.current.producer_epoch == NO_PRODUCER_EPOCH or _in_sequence(current_last, first_seq):
            return
        raise KafkaError(
            ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
            f"Out of order sequence number for producer {self.producer_id} at offset {offset} in {self.partition}: "
            f"{first_seq} (incoming seq. number), {current_last} (current end sequence number)",
        )

    def append_data_batch(self, epoch: int, first_seq: int, last_seq: int, timestamp: int, first_offset: int,
                          last_offset: int, transactional: bool) -> None:
        self._check_epoch(epoch, first_offset)
        if self.origin is AppendOrigin.CLIENT:
            self._check_sequence(epoch, first_seq, first_offset)
        self.updated.add_batch(epoch, last_seq, last_offset, last_offset - first_offset, timestamp)
        ongoing = self.updated.current_txn_first_offset
        if ongoing is not None and not transactional:
            raise KafkaError(
                ErrorCode.INVALID_TXN_STATE,
                f"Expected transactional write from producer {self.producer_id} at offset {first_offset} in "
                f"{self.partition}",
            )
        if ongoing is None and transactional:
            self.updated.current_txn_first_offset = first_offset
            self.started.append(TxnMetadata(self.producer_id, first_offset))

    def append_end_txn_marker(self, commit: bool, coordinator_epoch: int, epoch: int, offset: int,
                              timestamp: int) -> CompletedTxn | None:
        self._check_epoch(epoch, offset)
        if self.updated.coordinator_epoch > coordinator_epoch and self.origin is not AppendOrigin.REPLICATION:
            raise KafkaError(
                ErrorCode.TRANSACTION_COORDINATOR_FENCED,
                f"Invalid coordinator epoch for producer {self.producer_id} at offset {offset} in {self.partition}: "
                f"{coordinator_epoch} (zombie), {self.updated.coordinator_epoch} (current)",
            )
        first = self.updated.current_txn_first_offset
        completed = None if first is None else CompletedTxn(self.producer_id, first, offset, not commit)
        self.updated.maybe_update_epoch(epoch)  # a marker at the same epoch keeps the retained batches
        self.updated.coordinator_epoch = coordinator_epoch
        self.updated.current_txn_first_offset = None
        self.updated.last_timestamp = timestamp
        return completed


class ProducerStateManager:
    def __init__(self, directory: Directory, partition: str = "",
                 producer_id_expiration_ms: int = DEFAULT_PRODUCER_ID_EXPIRATION_MS) -> None:
        self.directory = directory
        self.partition = partition or directory.name
        self.producer_id_expiration_ms = producer_id_expiration_ms
        self.producers: dict[int, ProducerStateEntry] = {}
        self._ongoing: dict[int, TxnMetadata] = {}  # first offset -> open transaction
        self._unreplicated: dict[int, TxnMetadata] = {}  # first offset -> completed, marker above the HW
        self._snapshots: list[int] = sorted(
            o for o in (parse_snapshot_file_name(n) for n in directory.list()) if o is not None
        )
        self.map_end_offset = 0
        self.last_snap_offset = 0

    def __repr__(self) -> str:
        return (f"ProducerStateManager({self.partition!r}, producers={len(self.producers)}, "
                f"ongoing={sorted(self._ongoing)}, map_end={self.map_end_offset})")

    # -- queries

    def last_entry(self, producer_id: int) -> ProducerStateEntry | None:
        return self.producers.get(producer_id)

    @property
    def is_empty(self) -> bool:
        return not self.producers and not self._unreplicated

    def has_ongoing_txn(self, producer_id: int) -> bool:
        entry = self.producers.get(producer_id)
        return entry is not None and entry.current_txn_first_offset is not None

    def first_unstable_offset(self) -> int | None:
        """First offset of the earliest transaction not yet decided, or decided with its marker above the HW."""
        candidates = []
        if self._ongoing:
            candidates.append(min(self._ongoing))
        if self._unreplicated:
            candidates.append(min(self._unreplicated))
        return min(candidates) if candidates else None

    def first_undecided_offset(self) -> int | None:
        return min(self._ongoing) if self._ongoing else None

    @property
    def ongoing_transactions(self) -> list[TxnMetadata]:
        return [self._ongoing[k] for k in sorted(self._ongoing)]

    @property
    def snapshot_offsets(self) -> list[int]:
        return list(self._snapshots)

    @property
    def latest_snapshot_offset(self) -> int | None:
        return self._snapshots[-1] if self._snapshots else None

    # -- appends

    def prepare_update(self, producer_id: int, origin: AppendOrigin) -> ProducerAppendInfo:
        current = self.producers.get(producer_id) or ProducerStateEntry(producer_id)
        return ProducerAppendInfo(self.partition, producer_id, current, origin)

    def update(self, info: ProducerAppendInfo) -> None:
        if info.producer_id < 0:
            raise ValueError(f"invalid producer id {info.producer_id}")
        current = self.producers.get(info.producer_id)
        if current is None:
            self.producers[info.producer_id] = info.updated
        else:
            current.update_from(info.updated)
        for txn in info.started:
            self._ongoing[txn.first_offset] = txn

    def update_map_end_offset(self, offset: int) -> None:
        self.map_end_offset = offset

    def last_stable_offset(self, completed: CompletedTxn) -> int:
        """The LSO once completed is marked complete (what its transaction index entry records)."""
        for first in sorted(self._ongoing):
            if self._ongoing[first].producer_id != completed.producer_id:
                return first
        return completed.last_offset + 1

    def complete_txn(self, completed: CompletedTxn) -> None:
        txn = self._ongoing.pop(completed.first_offset, None)
        if txn is None:
            raise ValueError(f"{self.partition}: completing transaction {completed} that was never started")
        txn.last_offset = completed.last_offset
        self._unreplicated[completed.first_offset] = txn

    def on_high_watermark_updated(self, high_watermark: int) -> None:
        self._remove_unreplicated(high_watermark)

    def _remove_unreplicated(self, offset: int) -> None:
        for first in [k for k, t in self._unreplicated.items() if t.last_offset is not None and t.last_offset < offset]:
            del self._unreplicated[first]

    # -- expiration

    def _expired(self, now_ms: int, entry: ProducerStateEntry, expiration_ms: int) -> bool:
        return entry.current_txn_first_offset is None and now_ms - entry.last_timestamp >= expiration_ms

    def remove_expired_producers(self, now_ms: int, expiration_ms: int | None = None) -> int:
        """Forget producers idle for producer.id.expiration.ms (never one with an open transaction); returns how
        many were removed."""
        limit = self.producer_id_expiration_ms if expiration_ms is None else expiration_ms
        expired = [pid for pid, e in self.producers.items() if self._expired(now_ms, e, limit)]
        for pid in expired:
            del self.producers[pid]
        return len(expired)

    # -- log start, truncation

    def on_log_start_offset_incremented(self, log_start_offset: int) -> None:
        self._remove_unreplicated(log_start_offset)
        if self.map_end_offset < log_start_offset:
            self.map_end_offset = log_start_offset
        self.last_snap_offset = self.latest_snapshot_offset if self._snapshots else log_start_offset

    def truncate_fully_and_start_at(self, offset: int) -> None:
        self.producers.clear()
        self._ongoing.clear()
        self._unreplicated.clear()
        for snap in list(self._snapshots):
            self._delete_snapshot(snap)
        self.last_snap_offset = 0
        self.map_end_offset = offset

    def truncate_and_reload(self, log_start_offset: int, log_end_offset: int, now_ms: int) -> None:
        """Drop snapshots outside (log_start_offset, log_end_offset] and, unless the state already ends at
        log_end_offset, reload it from the newest snapshot left (the caller replays the log from map_end_offset)."""
        for snap in list(self._snapshots):
            if snap > log_end_offset or snap <= log_start_offset:
                self._delete_snapshot(snap)
        if log_end_offset != self.map_end_offset:
            self.producers.clear()
            self._ongoing.clear()
            self._unreplicated.clear()
            self._load_from_snapshot(log_start_offset, now_ms)
        else:
            self.on_log_start_offset_incremented(log_start_offset)

    # -- snapshots

    def reload(self, log_start_offset: int, now_ms: int) -> None:
        """Forget everything and load the newest readable snapshot (or start empty at log_start_offset)."""
        self.producers.clear()
        self._ongoing.clear()
        self._unreplicated.clear()
        self._load_from_snapshot(log_start_offset, now_ms)

    def delete_snapshots_outside(self, low: int, high: int) -> None:
        for snap in [s for s in self._snapshots if s < low or s > high]:
            self._delete_snapshot(snap)

    def _load_from_snapshot(self, log_start_offset: int, now_ms: int) -> None:
        while self._snapshots:
            offset = self._snapshots[-1]
            name = snapshot_file_name(offset)
            try:
                entries = read_snapshot(self.directory.read_bytes(name) or b"")
            except CorruptSnapshotError as exc:
                log.warning("%s: removing unreadable producer snapshot %s: %s", self.partition, name, exc)
                self._delete_snapshot(offset)
                continue
            for entry in entries:
                if not self._expired(now_ms, entry, self.producer_id_expiration_ms):
                    self.load_entry(entry)
            self.last_snap_offset = self.map_end_offset = offset
            return
        self.last_snap_offset = self.map_end_offset = log_start_offset

    def load_entry(self, entry: ProducerStateEntry) -> None:
        self.producers[entry.producer_id] = entry
        if entry.current_txn_first_offset is not None:
            self._ongoing[entry.current_txn_first_offset] = TxnMetadata(entry.producer_id,
                                                                        entry.current_txn_first_offset)

    def take_snapshot(self, *, sync: bool = True) -> bool:
        """Write the state as of map_end_offset if it moved on since the last snapshot; True if written.
        sync=False leaves the fsync to the caller (a segment roll flushes it in the background, as Kafka)."""
        if self.map_end_offset <= self.last_snap_offset:
            return False
        offset = self.map_end_offset
        self.directory.write_atomic(snapshot_file_name(offset), write_snapshot(self.producers.values()), sync=sync)
        if offset not in self._snapshots:
            self._snapshots.append(offset)
            self._snapshots.sort()
        self.last_snap_offset = offset
        return True

    def delete_snapshots_before(self, offset: int) -> None:
        for snap in [s for s in self._snapshots if s < offset]:
            self._delete_snapshot(snap)

    def remove_stray_snapshots(self, segment_base_offsets: Iterable[int]) -> None:
        """Keep only snapshots at segment boundaries, plus the newest (taken at the log end)."""
        bases = set(segment_base_offsets)
        latest = self.latest_snapshot_offset
        for snap in list(self._snapshots):
            if snap not in bases and snap != latest:
                self._delete_snapshot(snap)

    def _delete_snapshot(self, offset: int) -> None:
        if offset in self._snapshots:
            self._snapshots.remove(offset)
        self.directory.delete(snapshot_file_name(offset))


def write_snapshot(entries: Iterable[ProducerStateEntry]) -> bytes:
    body = bytearray()
    count = 0
    for e in entries:
        txn_first = -1 if e.current_txn_first_offset is None else e.current_txn_first_offset
        batches = list(e.batches) or [None]
        for b in batches:
            if b is None:
                body += _SNAP_ENTRY.pack(e.producer_id, e.producer_epoch, NO_SEQUENCE, -1, 0, e.last_timestamp,
                                         e.coordinator_epoch, txn_first)
            else:
                body += _SNAP_ENTRY.pack(e.producer_id, e.producer_epoch, b.last_seq, b.last_offset, b.offset_delta,
                                         b.timestamp if b is not batches[-1] else e.last_timestamp,
                                         e.coordinator_epoch, txn_first)
            count += 1
    out = bytearray(_SNAP_HEADER.size)
    struct.pack_into(">i", out, _CRC_START, count)
    out += body
    crc = crc32c.crc32c(memoryview(out)[_CRC_START:])
    struct.pack_into(">hI", out, 0, _SNAPSHOT_VERSION, crc)
    return bytes(out)


def read_snapshot(data: bytes) -> list[ProducerStateEntry]:
    if len(data) < _SNAP_HEADER.size:
        raise CorruptSnapshotError("shorter than its header")
    version, crc, count = _SNAP_HEADER.unpack_from(data, 0)
    if version != _SNAPSHOT_VERSION:
        raise CorruptSnapshotError(f"unknown version {version}")
    if crc32c.crc32c(memoryview(data)[_CRC_START:]) != crc:
        raise CorruptSnapshotError("CRC mismatch")
    if count < 0 or len(data) != _SNAP_HEADER.size + count * _SNAP_ENTRY.size:
        raise CorruptSnapshotError(f"{count} entries do not match the file size {len(data)}")
    out: dict[int, ProducerStateEntry] = {}
    for i in range(count):
        pid, epoch, last_seq, last_offset, delta, timestamp, coord_epoch, txn_first = _SNAP_ENTRY.unpack_from(
            data, _SNAP_HEADER.size + i * _SNAP_ENTRY.size)
        entry = out.get(pid)
        if entry is None or entry.producer_epoch != epoch:
            entry = out[pid] = ProducerStateEntry(pid, epoch)
        entry.coordinator_epoch = coord_epoch
        entry.last_timestamp = timestamp
        entry.current_txn_first_offset = None if txn_first < 0 else txn_first
        if last_offset >= 0:
            entry._add_metadata(BatchMetadata(last_seq, last_offset, delta, timestamp))
    return list(out.values())
