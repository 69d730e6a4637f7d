"""Start-up of one partition log: find the segments, repair what a crash left, restore the offsets
(Kafka's LogLoader). Runs once in Log.open, never on the append or fetch path.

After a clean shutdown (marker file written by Log.close) no segment is scanned: the indexes are trusted, checked
lazily when first used, and the log end offset comes from the last index entry plus a short scan. Without the
marker (crash, kill -9), every segment from the one holding the recovery point — the offset up to which
everything was fsynced, i.e. in practice the last segment or two — is scanned batch by batch (framing, CRC,
offsets moving forward), its indexes rebuilt, and cut at the first batch that fails; segments after a cut are
deleted, since their offsets would no longer follow on.

Producer state (kbroker.log.producer_state) is loaded from its newest snapshot and brought up to the log end by
replaying the batch headers after it (control batches are decoded: one small record each); aborted transactions met
on the way go into the transaction index of their marker's segment when it lacks them (recovered segments have
theirs emptied). After a clean shutdown without any snapshot the log predates producer state and is not scanned
(Kafka's upgrade rule): a snapshot at the log end is written and the state starts empty.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import time

from wire import records as rec
from wire.records import BatchHeader, CorruptRecordError

from .checkpoint import CheckpointError, OffsetCheckpoint
from .config import LogConfig
from .epoch_cache import LeaderEpochFileCache
from .producer_state import AppendOrigin, CompletedTxn, ProducerAppendInfo, ProducerStateManager
from .segment import INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX, LogSegment, parse_segment_file_name
from .segments import LogSegments
from .storage import Directory
from .txn_index import AbortedTxn

log = logging.getLogger(__name__)

CLEAN_SHUTDOWN_FILE = ".kafka_cleanshutdown"
LOG_START_OFFSET_FILE = "log-start-offset-checkpoint"
RECOVERY_POINT_FILE = "recovery-point-offset-checkpoint"
_LEFTOVER_SUFFIXES = (".tmp", ".deleted", ".cleaned", ".swap")


@dataclass(slots=True)
class LoadedLog:
    segments: LogSegments
    log_start_offset: int
    log_end_offset: int
    recovery_point: int
    had_clean_shutdown: bool
    truncated_bytes: int
    """Bytes cut by recovery (partial or corrupt batches), for the broker's start-up log line."""
    producer_state: ProducerStateManager


def read_offset_checkpoint(checkpoint: OffsetCheckpoint, directory: Directory) -> int | None:
    try:
        return checkpoint.read()
    except CheckpointError as exc:
        log.warning("%s: ignoring unreadable %s: %s", directory.name, checkpoint.name, exc)
        return None


class LogLoader:
    def __init__(
        self,
        directory: Directory,
        config: LogConfig,
        epoch_cache: LeaderEpochFileCache,
        log_start_checkpoint: OffsetCheckpoint,
        recovery_point_checkpoint: OffsetCheckpoint,
    ) -> None:
        self.directory = directory
        self.config = config
        self.epoch_cache = epoch_cache
        self.log_start_checkpoint = log_start_checkpoint
        self.recovery_point_checkpoint = recovery_point_checkpoint

    def load(self) -> LoadedLog:
        directory = self.directory
        bases = self._remove_leftovers()
        clean = directory.exists(CLEAN_SHUTDOWN_FILE)
        directory.delete(CLEAN_SHUTDOWN_FILE)  # from here on, a crash means unclean
        checkpointed_start = read_offset_checkpoint(self.log_start_checkpoint, directory)
        recovery_point = read_offset_checkpoint(self.recovery_point_checkpoint, directory) or 0

        segments = LogSegments([LogSegment.open(directory, base, self.config) for base in bases])
        producer_state = ProducerStateManager(directory)
        truncated = 0
        recovered_from: int | None = None
        if not clean and segments:
            recovered_from = segments.from_offset(recovery_point)[0].base_offset
            truncated = self._recover(segments, recovery_point)
        if not segments:
            segments.add(LogSegment.create(directory, checkpointed_start or 0, self.config))

        try:
            log_end_offset = segments.active.read_next_offset()
        except CorruptRecordError as exc:  # marked clean, yet the tail does not parse: recover it anyway
            log.warning("%s: active segment unreadable after a clean shutdown (%s); recovering", directory.name, exc)
            truncated += self._recover(segments, segments.active.base_offset)
            log_end_offset = segments.active.read_next_offset()

        log_start_offset = max(checkpointed_start or 0, segments.first.base_offset)
        if log_start_offset > log_end_offset:
            # The checkpointed start is beyond what survived: nothing below it may be read, so start afresh there.
            log.warning(
                "%s: log start offset %d beyond log end %d; starting empty at %d",
                directory.name, log_start_offset, log_end_offset, log_start_offset,
            )
            for segment in segments.clear():
                segment.delete()
            segments.add(LogSegment.create(directory, log_start_offset, self.config))
            self.epoch_cache.clear()
            producer_state.truncate_fully_and_start_at(log_start_offset)
            log_end_offset = log_start_offset
            recovered_from = None
        if log_start_offset != checkpointed_start:
            self.log_start_checkpoint.write(log_start_offset)
        self.epoch_cache.truncate_from_end(log_end_offset)
        self.epoch_cache.truncate_from_start(log_start_offset)

        if clean:
            recovery_point = min(recovery_point, log_end_offset)
        else:
            # What recovery validated is in the page cache only; make it durable before calling it recovered.
            for segment in segments.from_offset(recovery_point):
                segment.flush()
            recovery_point = log_end_offset
            self.recovery_point_checkpoint.write(recovery_point)
        load_producer_state(producer_state, segments, log_start_offset, log_end_offset, clean=clean,
                            recovered_from=recovered_from)
        return LoadedLog(segments, log_start_offset, log_end_offset, recovery_point, clean, truncated, producer_state)

    def _remove_leftovers(self) -> list[int]:
        """Delete what an interrupted operation left (temporary and .deleted files, indexes without a .log)
        and return the base offsets of the segments."""
        names = self.directory.list()
        bases = set()
        for name in names:
            parsed = parse_segment_file_name(name)
            if parsed is not None and parsed[1] == LOG_SUFFIX:
                bases.add(parsed[0])
        for name in names:
            parsed = parse_segment_file_name(name)
            leftover = name.endswith(_LEFTOVER_SUFFIXES) or (
                parsed is not None and parsed[1] in (INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX)
                and parsed[0] not in bases
            )
            if leftover:
                log.info("%s: removing leftover %s", self.directory.name, name)
                self.directory.delete(name)
        return sorted(bases)

    def _recover(self, segments: LogSegments, recovery_point: int) -> int:
        """Validate the segments from the one holding recovery_point; returns the bytes cut."""
        cache = self.epoch_cache

        def on_batch(header: BatchHeader) -> None:
            epoch = header.partition_leader_epoch
            if epoch >= 0 and (cache.latest_epoch is None or epoch > cache.latest_epoch):
                cache.assign(epoch, header.base_offset)

        total = 0
        unchecked = segments.from_offset(recovery_point)
        for i, segment in enumerate(unchecked):
            cut = segment.recover(on_batch)
            if cut:
                total += cut
                log.warning(
                    "%s: cut %d bytes of partial or corrupt batches from segment %d",
                    self.directory.name, cut, segment.base_offset,
                )
                for later in unchecked[i + 1 :]:
                    log.warning("%s: deleting segment %d after the cut", self.directory.name, later.base_offset)
                    segments.remove(later)
                    later.delete()
                break
        return total


# -- producer state -------------------------------------------------------------------------------------------


def load_producer_state(
    producer_state: ProducerStateManager,
    segments: LogSegments,
    log_start_offset: int,
    log_end_offset: int,
    *,
    clean: bool,
    recovered_from: int | None = None,
    now_ms: int | None = None,
) -> None:
    """Bring producer_state to log_end_offset: newest usable snapshot, then a replay of the batches after it.
    recovered_from: base offset of the first segment recovery rescanned (snapshots after it are not trusted)."""
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    producer_state.remove_stray_snapshots(segments.base_offsets)
    if producer_state.latest_snapshot_offset is None and clean:
        producer_state.truncate_fully_and_start_at(log_end_offset)
        producer_state.take_snapshot()
        return
    limit = log_end_offset if recovered_from is None else min(log_end_offset, recovered_from)
    producer_state.delete_snapshots_outside(log_start_offset, limit)
    producer_state.reload(log_start_offset, now)
    start = max(producer_state.map_end_offset, log_start_offset)
    if start < log_end_offset:
        replay_producer_state(producer_state, segments, start, log_end_offset)
    producer_state.update_map_end_offset(log_end_offset)
    producer_state.take_snapshot()


def replay_producer_state(producer_state: ProducerStateManager, segments: LogSegments, start: int, end: int) -> None:
    """Apply the batches in [start, end) to producer_state as replicated data (no checks), adding the aborted
    transactions met to their segment's transaction index when it does not have them yet."""
    for segment in segments.from_offset(start):
        if segment.base_offset >= end:
            break
        found = segment.translate_offset(max(start, segment.base_offset))
        if found is None:
            continue
        for position, header in segment.log.headers(found[0]):
            if header.base_offset >= end:
                break
            if header.base_offset < start or header.producer_id < 0:
                continue
            info = producer_state.prepare_update(header.producer_id, AppendOrigin.REPLICATION)
            completed = apply_batch(info, header, lambda: segment.read_batch(position, header))
            producer_state.update(info)
            if completed is not None:
                lso = producer_state.last_stable_offset(completed)
                if completed.is_aborted and completed.last_offset > segment.txn_index.last_offset:
                    segment.txn_index.append(AbortedTxn(completed.producer_id, completed.first_offset,
                                                        completed.last_offset, lso))
                producer_state.complete_txn(completed)
        producer_state.update_map_end_offset(min(end, segments.next_base_offset(segment) or end))


def apply_batch(info: ProducerAppendInfo, header: BatchHeader, read_batch, timestamp: int | None = None) -> CompletedTxn | None:  # type: ignore[no-untyped-def]
    """Feed one batch (offsets assigned) to info; the transaction it completes, for a COMMIT/ABORT marker.
    read_batch() gives the batch's bytes (only called for control batches). KafkaError when refused."""
    if header.is_control:
        marker = read_marker(read_batch())
        if marker is None:
            return None
        commit, coordinator_epoch = marker
        return info.append_end_txn_marker(commit, coordinator_epoch, header.producer_epoch, header.base_offset,
                                          header.max_timestamp if timestamp is None else timestamp)
    info.append_data_batch(header.producer_epoch, header.base_sequence, header.last_sequence,
                           header.max_timestamp if timestamp is None else timestamp, header.base_offset,
                           header.last_offset, header.is_transactional)
    return None


def read_marker(batch: bytes | bytearray | memoryview) -> tuple[bool, int] | None:
    """(commit, coordinator epoch) of a transaction marker batch; None for an empty or other control batch."""
    try:
        records = rec.decode_records(batch, verify_crc=False)
    except (rec.CorruptRecordError, rec.InvalidRecordError) as exc:
        log.warning("unreadable control batch: %s", exc)
        return None
    if not records:
        return None
    try:
        ctype, coordinator_epoch = rec.read_control_record(records[0])
    except rec.InvalidRecordError:
        return None
    if ctype not in (rec.CONTROL_ABORT, rec.CONTROL_COMMIT):
        return None
    return ctype == rec.CONTROL_COMMIT, -1 if coordinator_epoch is None else coordinator_epoch
