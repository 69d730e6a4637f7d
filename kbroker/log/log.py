"""One partition's log: the class the broker uses (Kafka's UnifiedLog/LocalLog, local storage only).

It turns validated produce batches into offsets (rewriting baseOffset and partitionLeaderEpoch in place — neither
is under the CRC — and, for LogAppendTime topics, the timestamp and CRC), rolls segments, serves fetches as
whole batches cut straight from the segment, answers ListOffsets by timestamp, and enforces retention. All
batch-level: records are decoded only to refine a ListOffsets answer, one batch at a time.

Offsets: log_start_offset <= last_stable_offset <= high_watermark <= log_end_offset. Readers may see
[log_start_offset, max_offset); the caller passes the high watermark (or last stable offset) as max_offset for
consumers.

Idempotent and transactional producers: every append of batches carrying a producer id goes through the log's
ProducerStateManager first (sequence and epoch checks, duplicates answered with their first offsets and not
written again); transaction markers complete transactions, aborted ones are recorded in the segment's transaction
index, and the last stable offset is the first offset of the earliest transaction still open.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from wire.records import BatchHeader, iter_batches, set_base_offset, set_partition_leader_epoch

from .checkpoint import OffsetCheckpoint
from .config import LogConfig
from .epoch_cache import LeaderEpochFileCache
from .errors import LogClosedError, LogWriteError, OffsetOutOfRange
from .flusher import BackgroundFlusher
from .loader import (
    CLEAN_SHUTDOWN_FILE,
    LOG_START_OFFSET_FILE,
    RECOVERY_POINT_FILE,
    LogLoader,
    apply_batch,
    load_producer_state,
)
from .producer_state import AppendOrigin, CompletedTxn, ProducerAppendInfo, ProducerStateManager, snapshot_file_name
from .recovery_point import RecoveryPoint
from .segment import LogSegment
from .segments import LogSegments
from .storage import Bytes, Directory, DiskDirectory, MemoryDirectory
from .time_index import NO_TIMESTAMP
from .txn_index import AbortedTxn

from wire.records import decode_records, set_log_append_time

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AppendInfo:
    first_offset: int
    last_offset: int
    max_timestamp: int
    """Largest batch maxTimestamp appended (the append time for LogAppendTime), -1 if none."""
    offset_of_max_timestamp: int
    """Last offset of the batch holding max_timestamp (batch precision, Kafka's "shallow" offset)."""
    log_append_time_ms: int
    """The time written into the batches for LogAppendTime topics, else -1 (ProduceResponse.log_append_time_ms)."""
    log_start_offset: int
    duplicate: bool = False
    """A producer's retry of a batch already in the log: nothing was written, the offsets are the first ones."""


@dataclass(frozen=True, slots=True)
class PreparedFlush:
    """A flush of a log up to target: fsync paths, then Log.complete_flush."""
    target: int
    paths: list[Path]
    generation: int


@dataclass(frozen=True, slots=True)
class ReadInfo:
    records: bytes | memoryview
    """Whole batches, to be sent as they are."""
    fetch_offset: int
    first_offset: int
    """Base offset of the first batch returned (it may start before fetch_offset); fetch_offset when empty."""
    next_offset: int
    """Offset after the last batch returned; fetch_offset when empty."""
    high_watermark: int
    log_start_offset: int
    log_end_offset: int

    @property
    def size(self) -> int:
        return len(self.records)


def _as_directory(directory: Path | str | Directory | None, in_memory: bool) -> Directory:
    if isinstance(directory, (str, os.PathLike)):
        if in_memory:
            return MemoryDirectory(Path(directory).name)
        return DiskDirectory(Path(directory))
    if directory is None:
        if not in_memory:
            raise ValueError("a directory is needed unless in_memory")
        return MemoryDirectory()
    return directory  # a Directory already (tests reopen a MemoryDirectory this way)


class Log:
    """Use Log.open(); the constructor takes the state the loader recovered."""

    def __init__(
        self,
        directory: Directory,
        config: LogConfig,
        *,
        segments: LogSegments,
        log_start_offset: int,
        log_end_offset: int,
        recovery_point: int,
        leader_epoch_cache: LeaderEpochFileCache,
        log_start_checkpoint: OffsetCheckpoint,
        recovery_point_checkpoint: OffsetCheckpoint,
        producer_state: ProducerStateManager | None = None,
        flusher: BackgroundFlusher | None = None,
    ) -> None:
        self.directory = directory
        self._config = config
        self._segments = segments
        self._log_start_offset = log_start_offset
        self._log_end_offset = log_end_offset
        self._high_watermark = log_end_offset
        self._recovery = RecoveryPoint(directory.name, recovery_point, recovery_point_checkpoint,
                                       flusher if directory.path is not None else None)
        self.leader_epoch_cache = leader_epoch_cache
        self._log_start_checkpoint = log_start_checkpoint
        self._closed = False
        self._write_error: str | None = None  # set while appends fail (logged once)
        self.had_clean_shutdown = True
        self.recovered_bytes = 0
        self.bytes_read = 0
        """Record bytes served by read() since open: lets tests and benchmarks see how often data is re-read."""
        if producer_state is None:
            producer_state = ProducerStateManager(directory)
            producer_state.update_map_end_offset(log_end_offset)
        self.producer_state = producer_state
        producer_state.on_high_watermark_updated(self._high_watermark)

    @classmethod
    def open(cls, directory: Path | str | Directory | None, config: LogConfig, *, in_memory: bool = False,
             flusher: BackgroundFlusher | None = None) -> Log:
        """Load (and after a crash, repair) the log in directory, creating it when new. in_memory keeps every
        byte in memory (directory is then only a name, or None); a Directory object is used as given. With a
        flusher, rolled segments are fsynced on its thread instead of inside the append that rolls."""
        config.validate()
        target = _as_directory(directory, in_memory)
        epoch_cache = LeaderEpochFileCache(target)
        start_ckpt = OffsetCheckpoint(target, LOG_START_OFFSET_FILE)
        recovery_ckpt = OffsetCheckpoint(target, RECOVERY_POINT_FILE)
        loaded = LogLoader(target, config, epoch_cache, start_ckpt, recovery_ckpt).load()
        opened = cls(
            target,
            config,
            segments=loaded.segments,
            log_start_offset=loaded.log_start_offset,
            log_end_offset=loaded.log_end_offset,
            recovery_point=loaded.recovery_point,
            leader_epoch_cache=epoch_cache,
            log_start_checkpoint=start_ckpt,
            recovery_point_checkpoint=recovery_ckpt,
            producer_state=loaded.producer_state,
            flusher=flusher,
        )
        opened.had_clean_shutdown = loaded.had_clean_shutdown
        opened.recovered_bytes = loaded.truncated_bytes
        return opened

    def __repr__(self) -> str:
        return (
            f"Log({self.name!r}, start={self._log_start_offset}, hw={self._high_watermark}, "
            f"end={self._log_end_offset}, segments={len(self._segments)})"
        )

    # -- state --

    @property
    def name(self) -> str:
        return self.directory.name

    @property
    def config(self) -> LogConfig:
        return self._config

    @config.setter
    def config(self, config: LogConfig) -> None:
        """Swap in another config object; changing fields of the current one in place works as well."""
        config.validate()
        self._config = config
        for segment in self._segments:
            segment.config = config

    @property
    def log_start_offset(self) -> int:
        return self._log_start_offset

    @property
    def log_end_offset(self) -> int:
        """The offset the next appended record gets."""
        return self._log_end_offset

    @property
    def high_watermark(self) -> int:
        return self._high_watermark

    @high_watermark.setter
    def high_watermark(self, offset: int) -> None:
        """Set by the caller (at once when not replicated); kept within [log_start_offset, log_end_offset]."""
        self._high_watermark = min(max(offset, self._log_start_offset), self._log_end_offset)
        self.producer_state.on_high_watermark_updated(self._high_watermark)

    @property
    def last_stable_offset(self) -> int:
        """Where read_committed consumers stop: the first offset of the earliest transaction not yet decided (or
        decided by a marker above the high watermark), else the high watermark."""
        first_unstable = self.producer_state.first_unstable_offset()
        if first_unstable is None or first_unstable >= self._high_watermark:
            return self._high_watermark
        return max(first_unstable, self._log_start_offset)

    @property
    def recovery_point(self) -> int:
        """Everything below this offset is fsynced; recovery after a crash starts from its segment."""
        return self._recovery.offset

    @property
    def size_bytes(self) -> int:
        return self._segments.size_bytes

    @property
    def segments(self) -> int:
        """Number of segments."""
        return len(self._segments)

    @property
    def log_segments(self) -> LogSegments:
        return self._segments

    @property
    def active_segment(self) -> LogSegment:
        return self._segments.active

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise LogClosedError(f"log {self.name} is closed")

    # -- append --

    def append(
        self,
        records: Bytes,
        *,
        leader_epoch: int,
        now_ms: int,
        log_append_time: bool = False,
        origin: AppendOrigin = AppendOrigin.CLIENT,
    ) -> AppendInfo:
        """Append one or more v2 batches the caller validated (framing and CRC), assigning them the next
        offsets. The bytes are copied once; the caller's buffer is left as it was.

        Batches with a producer id are checked against the producer state as origin requires (KafkaError with
        OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH, INVALID_TXN_STATE, TRANSACTION_COORDINATOR_FENCED;
        nothing is written then). A client's retry of a batch still in the producer's last five is not written
        again: the result has duplicate=True and the offsets the batch got the first time."""
        self._check_open()
        if self._recovery.failed is not None:  # an fsync failed: nothing more is acknowledged until a restart
            raise LogWriteError(f"{self.name}: an earlier fsync failed ({self._recovery.failed})")
        buf = bytearray(records)
        if not buf:
            raise ValueError("nothing to append")
        first_offset = next_offset = self._log_end_offset
        max_timestamp, offset_of_max = NO_TIMESTAMP, -1
        stamp = log_append_time
        producer_batches: list[tuple[int, BatchHeader, int]] = []
        for position, header in iter_batches(buf):
            set_base_offset(buf, position, next_offset)
            set_partition_leader_epoch(buf, position, leader_epoch)
            last = next_offset + header.last_offset_delta
            timestamp = header.max_timestamp
            if stamp:
                set_log_append_time(buf, position, now_ms)
                timestamp = now_ms
            if timestamp > max_timestamp:
                max_timestamp, offset_of_max = timestamp, last
            if header.producer_id >= 0:
                header.base_offset = next_offset
                producer_batches.append((position, header, timestamp))
            next_offset = last + 1
        last_offset = next_offset - 1

        updates: dict[int, ProducerAppendInfo] = {}
        completed: list[CompletedTxn] = []
        if producer_batches:
            duplicate = self._analyze_producers(buf, producer_batches, origin, updates, completed)
            if duplicate is not None:
                first, last, timestamp = duplicate
                return AppendInfo(first, last, timestamp, last, timestamp if log_append_time else -1,
                                  self._log_start_offset, duplicate=True)

        try:
            segment = self._segments.active
            if segment.should_roll(incoming_bytes=len(buf), largest_offset=last_offset, now_ms=now_ms):
                segment = self.roll()
            latest_epoch = self.leader_epoch_cache.latest_epoch
            if leader_epoch >= 0 and (latest_epoch is None or leader_epoch > latest_epoch):
                # Older epochs are the caller's to fence (FENCED_LEADER_EPOCH); they would only cut the cache.
                self.leader_epoch_cache.assign(leader_epoch, first_offset)
            segment.append(
                buf, largest_offset=last_offset, largest_timestamp=max_timestamp, offset_of_max_timestamp=offset_of_max
            )
            if completed:  # before any state moves: a failure here must leave the log as it was
                self._index_aborted(segment, _aborted_entries(self.producer_state, updates, completed), first_offset)
        except OSError as exc:
            raise self._write_failed(exc) from exc
        if self._write_error is not None:
            log.warning("%s: writes succeed again after %s", self.name, self._write_error)
            self._write_error = None
        if segment.first_append_ms is None:
            segment.first_append_ms = now_ms
        self._log_end_offset = next_offset
        state = self.producer_state
        for info in updates.values():
            state.update(info)
        for txn in completed:
            state.complete_txn(txn)
        state.update_map_end_offset(next_offset)
        if self._recovery.flusher is None and self.flush_due:
            self.flush()  # a bare log (tests, in memory): nothing to keep off a loop
        return AppendInfo(
            first_offset,
            last_offset,
            max_timestamp,
            offset_of_max,
            now_ms if log_append_time else -1,
            self._log_start_offset,
        )

    @staticmethod
    def _index_aborted(segment: LogSegment, entries: list[AbortedTxn], first_offset: int) -> None:
        """Add the transaction index entries of what this append aborted; if one cannot be written, take the
        append's batches (and any entries written) back out of the segment, so that nothing of it is kept."""
        try:
            for entry in entries:
                segment.txn_index.append(entry)
        except Exception:
            segment.truncate_to(first_offset)
            raise

    def _write_failed(self, exc: OSError) -> LogWriteError:
        """The error an append that could not write raises; logged once until a write succeeds again (a full
        disk fails every produce, and each would otherwise log its own traceback)."""
        error = f"{type(exc).__name__}: {exc}"
        if self._write_error is None:
            log.error("%s: cannot write to the log (%s); appends answer KAFKA_STORAGE_ERROR until a write succeeds",
                      self.name, error)
            self._write_error = error
        else:
            log.debug("%s: append failed again: %s", self.name, error)
        return LogWriteError(f"{self.name}: {error}")

    def _analyze_producers(
        self,
        buf: bytearray,
        batches: list[tuple[int, BatchHeader, int]],
        origin: AppendOrigin,
        updates: dict[int, ProducerAppendInfo],
        completed: list[CompletedTxn],
    ) -> tuple[int, int, int] | None:
        """Validate the producer batches and collect their state changes; (first, last offset, timestamp) of the
        original when a client batch is a duplicate."""
        state = self.producer_state
        for position, header, timestamp in batches:
            pid = header.producer_id
            if origin is AppendOrigin.CLIENT and not header.is_control:
                entry = state.last_entry(pid)
                if entry is not None:
                    found = entry.find_duplicate(header.producer_epoch, header.base_sequence, header.last_sequence)
                    if found is not None:
                        return found.first_offset, found.last_offset, found.timestamp
            info = updates.get(pid)
            if info is None:
                info = updates[pid] = state.prepare_update(pid, origin)
            txn = apply_batch(info, header, lambda: memoryview(buf)[position : position + header.size], timestamp)
            if txn is not None:
                completed.append(txn)
        return None

    def append_as_follower(self, records: Bytes, *, now_ms: int) -> int:
        """Append batches copied from the partition's leader as they are: their offsets and leader epochs are
        kept (the epoch cache learns each new epoch), producer state is rebuilt from them (so this replica keeps
        deduplicating if it becomes leader). Batches below the log end (a re-sent tail) are skipped. Returns
        the new log end offset."""
        self._check_open()
        buf = bytearray(records)
        state = self.producer_state
        for position, header in list(iter_batches(buf)):
            if header.last_offset < self._log_end_offset:
                continue
            if header.base_offset > self._log_end_offset and self._segments.active.size == 0 \
                    and self._log_end_offset == self._log_start_offset:
                self.truncate_fully_and_start_at(header.base_offset)  # the leader's log starts later
            batch = buf[position:position + header.size]
            segment = self._segments.active
            if segment.should_roll(incoming_bytes=len(batch), largest_offset=header.last_offset, now_ms=now_ms):
                segment = self.roll()
            epoch = header.partition_leader_epoch
            latest = self.leader_epoch_cache.latest_epoch
            if epoch >= 0 and (latest is None or epoch > latest):
                self.leader_epoch_cache.assign(epoch, header.base_offset)
            completed: CompletedTxn | None = None
            info: ProducerAppendInfo | None = None
            if header.producer_id >= 0:
                info = state.prepare_update(header.producer_id, AppendOrigin.REPLICATION)
                completed = apply_batch(info, header, lambda b=batch: memoryview(b))
            segment.append(batch, largest_offset=header.last_offset, largest_timestamp=header.max_timestamp,
                           offset_of_max_timestamp=header.last_offset)
            if segment.first_append_ms is None:
                segment.first_append_ms = now_ms
            self._log_end_offset = header.last_offset + 1
            if info is not None:
                state.update(info)
            if completed is not None:
                lso = state.last_stable_offset(completed)
                if completed.is_aborted:
                    segment.txn_index.append(AbortedTxn(completed.producer_id, completed.first_offset,
                                                        completed.last_offset, lso))
                state.complete_txn(completed)
            state.update_map_end_offset(self._log_end_offset)
        return self._log_end_offset

    def roll(self) -> LogSegment:
        """Start a new active segment at the log end offset (no-op when the active one is still empty)."""
        self._check_open()
        old = self._segments.active
        if old.size == 0:
            return old
        old.on_become_inactive()
        new = LogSegment.create(self.directory, self._log_end_offset, self._config)
        self._segments.add(new)
        # the producer state as of the new segment's start: recovery replays from there, not from the log start
        self.producer_state.update_map_end_offset(self._log_end_offset)
        self.producer_state.take_snapshot(sync=self._recovery.flusher is None)
        if self._config.flush_on_roll:
            self.flush_in_background(new.base_offset)
        old.release_indexes()  # memory for indexes only where reads need them; they load again on demand
        return new

    # -- read --

    def read(
        self, offset: int, max_bytes: int, *, max_offset: int | None = None, min_one_batch: bool = True
    ) -> ReadInfo:
        """Whole batches from the one holding offset, within max_bytes (the first batch always when
        min_one_batch), none whose base offset is >= max_offset, and from one segment only (the next read
        continues at next_offset). Empty at the log end; OffsetOutOfRange outside [start, end]."""
        self._check_open()
        start, end = self._log_start_offset, self._log_end_offset
        if offset < start or offset > end:
            raise OffsetOutOfRange(offset, start, end)
        segment = self._segments.floor(offset)
        if offset < end and (max_offset is None or offset < max_offset):
            while segment is not None:
                found = segment.read(offset, max_bytes, max_offset=max_offset, min_one_batch=min_one_batch)
                if found is not None:
                    if found.records:
                        self.bytes_read += len(found.records)
                        return ReadInfo(
                            found.records, offset, found.first_offset, found.next_offset,
                            self._high_watermark, start, end,
                        )
                    break
                segment = self._segments.higher(segment.base_offset)
        return ReadInfo(b"", offset, offset, offset, self._high_watermark, start, end)

    def offset_position(self, offset: int) -> tuple[LogSegment, int]:
        """(segment, byte position) where the batch holding offset starts, or where the next batch will go when
        offset is at the log end (Kafka's LogOffsetMetadata). Reads batch headers only, and at the log end nothing
        at all, so a waiting fetch can measure the bytes that became available without reading them. A position is
        only good in that segment object: the cleaner may replace it under the same base offset."""
        self._check_open()
        if offset >= self._log_end_offset:
            active = self._segments.active
            return active, active.size
        segment = self._segments.floor(offset) or self._segments.first
        while segment is not None:
            found = segment.translate_offset(offset)
            if found is not None:
                return segment, found[0]
            following = self._segments.higher(segment.base_offset)
            if following is None:
                return segment, segment.size
            segment = following
        active = self._segments.active
        return active, active.size

    def collect_aborted_transactions(self, fetch_offset: int, upper_bound: int) -> list[AbortedTxn]:
        """Aborted transactions overlapping [fetch_offset, upper_bound): what a read_committed Fetch returning
        the batches up to upper_bound must list so that the consumer drops their records."""
        self._check_open()
        segment = self._segments.floor(fetch_offset) or self._segments.first
        found: list[AbortedTxn] = []
        while segment is not None:
            result = segment.txn_index.collect_aborted(fetch_offset, upper_bound)
            found.extend(result.aborted)
            if result.complete:
                break
            segment = self._segments.higher(segment.base_offset)
        return found

    def remove_expired_producers(self, now_ms: int, expiration_ms: int) -> int:
        """Forget producers idle longer than expiration_ms (producer.id.expiration.ms); returns how many."""
        return self.producer_state.remove_expired_producers(now_ms, expiration_ms)

    # -- timestamps (ListOffsets) --

    def _live_segments(self) -> list[LogSegment]:
        """Segments holding at least one offset >= log_start_offset."""
        segments = list(self._segments)
        keep = []
        for i, segment in enumerate(segments):
            following = segments[i + 1].base_offset if i + 1 < len(segments) else None
            if following is None or following > self._log_start_offset:
                keep.append(segment)
        return keep

    def offset_for_timestamp(self, timestamp: int) -> tuple[int, int] | None:
        """(offset, timestamp) of the earliest record at or after log_start_offset whose timestamp is >=
        timestamp, None if there is none (ListOffsets with a real timestamp; the -1/-2/-3 specials are the
        caller's: log end or high watermark, log start, max_timestamp()).

        The batch is found from its maxTimestamp through the time index; the record inside it by decoding
        that one batch. When the batch cannot be decoded the answer has batch precision: the batch's first
        offset with its maxTimestamp, which never skips a matching record (it may return a few earlier ones).
        """
        self._check_open()
        for segment in self._live_segments():
            if segment.max_timestamp < timestamp:
                continue
            found = segment.find_offset_by_timestamp(timestamp, self._log_start_offset)
            if found is not None:
                position, header = found
                return self._record_at_or_after(
                    segment, position, header, lambda off, ts: ts >= timestamp, fallback_timestamp=header.max_timestamp
                )
        return None

    def max_timestamp(self) -> tuple[int, int] | None:
        """(offset, timestamp) of the record with the largest timestamp (ListOffsets MAX_TIMESTAMP, -3): the
        first such record of the first batch holding it; that batch's first offset if it cannot be decoded."""
        self._check_open()
        best: LogSegment | None = None
        for segment in self._live_segments():
            if segment.max_timestamp >= 0 and (best is None or segment.max_timestamp > best.max_timestamp):
                best = segment
        if best is None:
            return None
        target = best.max_timestamp
        found = best.find_offset_by_timestamp(target, max(self._log_start_offset, best.base_offset))
        if found is None:
            return None
        position, header = found
        return self._record_at_or_after(best, position, header, lambda off, ts: ts == target, fallback_timestamp=target)

    def _record_at_or_after(
        self,
        segment: LogSegment,
        position: int,
        header: BatchHeader,
        matches: Callable[[int, int], bool],
        *,
        fallback_timestamp: int,
    ) -> tuple[int, int]:
        start = self._log_start_offset
        fallback = (max(header.base_offset, start), fallback_timestamp)
        if header.is_log_append_time:
            return fallback  # LogAppendTime: every record carries maxTimestamp
        try:
            records = decode_records(segment.read_batch(position, header), verify_crc=False)
        except ValueError as exc:  # unknown compression, malformed records: stay at batch precision
            log.debug("%s: batch at %d not decodable for a timestamp search: %s", self.name, header.base_offset, exc)
            return fallback
        for record in records:
            offset = header.base_offset + record.offset_delta
            timestamp = header.base_timestamp + record.timestamp_delta
            if offset >= start and matches(offset, timestamp):
                return offset, timestamp
        return fallback

    # -- leader epochs --

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        """(epoch, end offset) for OffsetForLeaderEpoch; (-1, -1) when unknown."""
        return self.leader_epoch_cache.end_offset_for(epoch, self._log_end_offset)

    # -- truncation and deletion --

    def truncate_to(self, offset: int) -> bool:
        """Drop every batch holding an offset >= offset (a follower diverging from its leader). Returns
        whether anything was dropped. The log end becomes the end of the last batch kept."""
        self._check_open()
        if offset < 0:
            raise ValueError(f"cannot truncate to negative offset {offset}")
        if offset >= self._log_end_offset:
            return False
        if offset < self._segments.first.base_offset:
            self.truncate_fully_and_start_at(offset)
            return True
        for segment in reversed(self._segments.after(offset + 1)):
            self._segments.remove(segment)
            segment.delete()
        active = self._segments.active
        active.truncate_to(offset)
        self._log_end_offset = active.read_next_offset()
        self._high_watermark = min(self._high_watermark, self._log_end_offset)
        self._recovery.cut(self._log_end_offset)
        self.leader_epoch_cache.truncate_from_end(self._log_end_offset)
        if self._log_start_offset > self._log_end_offset:
            self._set_log_start_offset(self._log_end_offset, allow_decrease=True)
        load_producer_state(self.producer_state, self._segments, self._log_start_offset, self._log_end_offset,
                            clean=False, recovered_from=self._log_end_offset)
        self.producer_state.on_high_watermark_updated(self._high_watermark)
        return True

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Drop everything and continue empty at offset (a follower too far behind, or start beyond the end)."""
        self._check_open()
        if offset < 0:
            raise ValueError(f"cannot start at negative offset {offset}")
        # The start offset first: a crash part way then finds it beyond what is left and starts empty there.
        self._set_log_start_offset(offset, allow_decrease=True)
        for segment in self._segments.clear():
            segment.delete()
        self._segments.add(LogSegment.create(self.directory, offset, self._config))
        self._log_end_offset = self._high_watermark = offset
        self._recovery.reset(offset)
        self.leader_epoch_cache.clear()
        self.producer_state.truncate_fully_and_start_at(offset)

    def delete_records_before(self, offset: int) -> int:
        """DeleteRecords: move the log start up to offset (which may fall inside a segment or batch) and
        delete the segments entirely below it. OffsetOutOfRange beyond the high watermark, as Kafka.
        Returns the new log start offset (the low watermark)."""
        self._check_open()
        if offset > self._high_watermark or offset < 0:
            raise OffsetOutOfRange(offset, self._log_start_offset, self._high_watermark, "delete offset")
        if offset > self._log_start_offset:
            self._set_log_start_offset(offset)
            self._delete_prefix(lambda segment, next_base: next_base <= self._log_start_offset)
        return self._log_start_offset

    def enforce_retention(self, now_ms: int) -> int:
        """Delete the oldest closed segments that are entirely below the log start offset, older than
        retention_ms (by their largest timestamp), or beyond retention_bytes (as Kafka: oldest first, while the
        log would keep at least retention_bytes). Never the active segment, never data at or above the high
        watermark. Returns the number of segments deleted."""
        self._check_open()
        config = self._config
        deleted = self._delete_prefix(lambda segment, next_base: next_base <= self._log_start_offset)
        if config.retention_ms >= 0:
            retention_ms = config.retention_ms
            deleted += self._delete_prefix(lambda segment, _: now_ms - segment.largest_timestamp > retention_ms)
        if config.retention_bytes >= 0:
            excess = self.size_bytes - config.retention_bytes

            def over_size(segment: LogSegment, _: int) -> bool:
                nonlocal excess
                if excess - segment.size >= 0:
                    excess -= segment.size
                    return True
                return False

            deleted += self._delete_prefix(over_size)
        return deleted

    def _delete_prefix(self, predicate: Callable[[LogSegment, int], bool]) -> int:
        """Delete segments from the oldest while predicate(segment, next segment's base offset) holds and the
        segment lies entirely below the high watermark; advance the log start past them."""
        deleted = 0
        while len(self._segments) > 1:
            segment = self._segments.first
            next_base = self._segments.next_base_offset(segment)
            assert next_base is not None
            if next_base > self._high_watermark or not predicate(segment, next_base):
                break
            self._segments.remove(segment)
            segment.delete()
            deleted += 1
        if deleted:
            first = self._segments.first.base_offset
            log.info("%s: deleted %d segment(s); log now starts in segment %d", self.name, deleted, first)
            if first > self._log_start_offset:
                self._set_log_start_offset(first)
            self.producer_state.delete_snapshots_before(first)
        return deleted

    def _set_log_start_offset(self, offset: int, *, allow_decrease: bool = False) -> None:
        if offset == self._log_start_offset or (offset < self._log_start_offset and not allow_decrease):
            return
        self._log_start_offset = offset
        self._log_start_checkpoint.write(offset)
        self.leader_epoch_cache.truncate_from_start(offset)
        self._high_watermark = max(self._high_watermark, min(offset, self._log_end_offset))
        self.producer_state.on_log_start_offset_incremented(offset)

    # -- lifecycle --

    def flush(self, up_to: int | None = None) -> None:
        """fsync everything below up_to (default: the log end) and move the recovery point there, now."""
        self._check_open()
        target = self._log_end_offset if up_to is None else min(up_to, self._log_end_offset)

        def fsync_from(start: int) -> None:
            for segment in self._segments.from_offset(start):
                if segment.base_offset >= target:
                    break
                segment.flush()

        self._recovery.flush_now(target, fsync_from)

    def flush_in_background(self, up_to: int | None = None) -> None:
        """Like flush, on the flusher's thread when the log has one: the segments' files (and the producer
        snapshot at up_to) are fsynced there, and only then does the recovery point move, so it never claims
        more than is on disk. Without a flusher (in memory, bare logs in tests) this is flush()."""
        if self._recovery.flusher is None:
            self.flush(up_to)
            return
        self._check_open()
        target = self._log_end_offset if up_to is None else min(up_to, self._log_end_offset)
        start = self._recovery.scheduled
        if target <= start:
            return
        root = self.directory.path
        assert root is not None
        # segments below `start` are in jobs submitted before this one, which run (and succeed) first
        paths = [path for segment in self._segments.from_offset(start)
                 if segment.base_offset < target for path in segment.file_paths()]
        paths.append(root / snapshot_file_name(target))
        self._recovery.flush_later(target, paths, root)

    @property
    def flush_due(self) -> bool:
        """flush.messages: this many messages are unflushed. The caller that acknowledges the append fsyncs them
        before it answers (prepare_flush, fsync_paths off the event loop, complete_flush), as Kafka does in the
        append; the periodic flush_if_due catches what no such caller flushed."""
        return not self._closed and self._log_end_offset - self._recovery.offset >= self._config.flush_messages

    def prepare_flush(self) -> PreparedFlush:
        """What to fsync (anywhere, e.g. a worker thread: only paths) to flush the whole log as it is now."""
        target = self._log_end_offset
        root = self.directory.path
        paths = [path for segment in self._segments.from_offset(self._recovery.offset)
                 for path in segment.file_paths()] if root is not None else []
        if root is not None:
            paths.append(root)  # new files' directory entries
        return PreparedFlush(target, paths, self._recovery.generation)

    def complete_flush(self, prepared: PreparedFlush, error: OSError | None = None) -> None:
        """prepared's files were fsynced (move the recovery point), or fsync failed (freeze it: appends fail).
        Thread-safe: the fsyncing thread may call it."""
        if error is not None:
            self._recovery.fail(prepared.target, error)
        else:
            self._recovery.advance(prepared.target, prepared.generation)

    def flush_if_due(self, now_ms: int) -> bool:
        """flush.ms: start a background flush when unflushed data is older than the setting; True if started."""
        recovery = self._recovery
        if self._closed or self._log_end_offset <= recovery.offset or \
                (now_ms - recovery.last_flush_ms < self._config.flush_ms and not self.flush_due):
            return False
        recovery.last_flush_ms = now_ms  # the next check waits a whole interval, whatever the flush takes
        self.flush_in_background()
        return True

    def close(self) -> None:
        """Flush, close every file and leave the clean-shutdown marker, so the next open skips recovery."""
        if self._closed:
            return
        if self._recovery.failed is not None:  # no clean-shutdown marker: the next start recovers what it can
            log.warning("%s: closing without a clean shutdown: %s", self.name, self._recovery.failed)
            self._close_files()
            return
        for segment in self._segments:
            segment.on_become_inactive()
        self.flush()
        self._segments.active.flush()  # its time index got a final entry just now
        self._recovery.persist_if_lowered()
        self.producer_state.update_map_end_offset(self._log_end_offset)
        self.producer_state.take_snapshot()
        for segment in self._segments:
            segment.close()
        # Everything is durable by now; the marker itself needs no fsync (lost, it only costs a recovery).
        self.directory.open(CLEAN_SHUTDOWN_FILE).close()
        self._recovery.close()
        self._closed = True

    def _close_files(self) -> None:
        """Close every file without flushing anything (the log is being deleted, or cannot be trusted)."""
        if self._closed:
            return
        for segment in self._segments:
            segment.log.close()
            segment.offset_index.close()
            segment.time_index.close()
            segment.txn_index.close()
        self._recovery.close()
        self._closed = True

    def delete(self) -> None:
        """Close the files and remove the whole partition directory: renamed at once, its files removed on the
        flusher's thread when the log has one."""
        self._close_files()
        self._segments.clear()
        flusher = self._recovery.flusher
        self.directory.remove(flusher.submit if flusher is not None else None)


def _aborted_entries(state: ProducerStateManager, updates: dict[int, ProducerAppendInfo],
                     completed: list[CompletedTxn]) -> list[AbortedTxn]:
    """The transaction index entries for the aborted ones among `completed`, each with the LSO it leaves, computed
    before the producer state takes this append in: the transactions open now plus those the append starts, less
    those completed ahead of it in the same append (what the state would hold at that point)."""
    open_txns = {txn.first_offset: txn.producer_id for txn in state.ongoing_transactions}
    for info in updates.values():
        open_txns.update((txn.first_offset, txn.producer_id) for txn in info.started)
    entries = []
    for txn in completed:
        lso = next((first for first in sorted(open_txns) if open_txns[first] != txn.producer_id), txn.last_offset + 1)
        open_txns.pop(txn.first_offset, None)
        if txn.is_aborted:
            entries.append(AbortedTxn(txn.producer_id, txn.first_offset, txn.last_offset, lso))
    return entries
