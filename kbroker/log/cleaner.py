"""The log cleaner: compaction of logs whose topic has cleanup.policy=compact (Kafka's LogCleaner).

A cleaning pass of one log, as Kafka does it:

1. Range. Only closed segments below the *first uncleanable offset* are touched: the active segment's base, the
   last stable offset (so no undecided transaction is cleaned), and the first segment younger than
   min.compaction.lag.ms. The part of that range not cleaned before (from the *first dirty offset*) is dirty; a log
   is cleaned when its dirty share reaches min.cleanable.dirty.ratio, when its oldest dirty segment is older than
   max.compaction.lag.ms, or when a tombstone's delete horizon has passed.
2. Map. The dirty range is read once to map each key to its latest offset (records of aborted transactions and
   control batches left out), up to a bounded number of keys (log.cleaner.dedupe.buffer.size / 24); a range too
   big for the map is cleaned up to where the map filled and the rest in a later pass.
3. Copy. Every batch of the range is copied, keeping a record unless a later record has its key, it has no key
   (compacted topics take keyed records only), or it is a tombstone whose delete horizon has passed. The first
   pass that keeps a tombstone gives its batch a delete horizon (now + delete.retention.ms), written as Kafka does
   (KIP-534): attribute bit 6 set and the base timestamp holding the horizon, record timestamps kept through their
   deltas. A batch losing records is rebuilt with its base offset, last offset, producer id/epoch/sequence and
   codec kept, so offsets never change and idempotent producers keep their sequence numbers. A batch losing all
   records is dropped, except the last batch of each producer, kept empty (as Kafka does).
   Transactions: the data of aborted transactions is dropped; control batches (transaction markers) are always
   kept (Kafka removes markers once their transaction's data is gone and the horizon passed; kbroker keeps them,
   which costs a few bytes a transaction and keeps every read_committed reader correct).
4. Swap. Each segment is replaced by its cleaned copy one for one, under the same base offset (Kafka also merges
   small neighbours; kbroker does not, so a compacted log keeps its segment count).

Nothing here blocks the event loop for long: planning and the swap run on the loop (cheap: header-level
bookkeeping and one rename a segment); reading, decoding and writing the cleaned copies run in a worker thread
through their own file descriptors, while produce and fetch go on, at most log.cleaner.io.max.bytes.per.second
read plus written (Kafka's throttler). The swap re-checks that each segment is still
the one that was read (retention, DeleteRecords or a topic deletion may have removed it meanwhile) and skips it
otherwise. A crash mid-way leaves either the old file or the new one (a `.cleaned` temporary is removed at the
next start); indexes of a swapped segment are rebuilt from its file when first used.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import anyio

from wire.records import (BatchHeader, CONTROL_ABORT, Record, build_batch, decode_records, parse_header,
                          read_control_record, set_attributes)

from .cleaner_io import CLEANED_SUFFIX, CleaningAborted, Source, Throttler, Writer  # noqa: F401 (re-exported)
from .log import Log
from .segment import INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX, LogSegment, segment_file_name

log = logging.getLogger(__name__)

DELETE_HORIZON_BIT = 0x40  # Kafka's DefaultRecordBatch.DELETE_HORIZON_FLAG_MASK
MAP_ENTRY_BYTES = 24  # what Kafka's offset map spends on a key (16-byte hash + 8-byte offset)


@dataclass(frozen=True)
class CleanerConfig:
    """The topic settings one cleaning pass uses (read afresh for every pass, so config changes apply)."""

    delete_retention_ms: int = 86400000
    min_compaction_lag_ms: int = 0
    max_compaction_lag_ms: int = 2**63 - 1
    min_cleanable_ratio: float = 0.5


@dataclass
class CleanTarget:
    """A log to compact, as the broker hands it to the cleaner."""

    name: str
    log: Log
    config: CleanerConfig
    stable_offset: int | None = None
    """Cleaning stays below this (the partition's last stable offset); the log's own when None."""


@dataclass
class CleanStats:
    log: str
    segments: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    records_read: int = 0
    records_kept: int = 0
    tombstones_removed: int = 0
    aborted_removed: int = 0
    first_dirty: int = 0
    end_offset: int = 0
    seconds: float = 0.0
    throttled_seconds: float = 0.0
    """Time the pass waited to stay under log.cleaner.io.max.bytes.per.second."""


@dataclass
class _LogState:
    first_dirty: int = 0
    next_horizon: int | None = None
    """The earliest delete horizon of a tombstone kept in the cleaned range: the log is cleaned again then."""


# -- the plan made on the event loop ---------------------------------------------------------------------------


@dataclass
class _Plan:
    target: CleanTarget
    now_ms: int
    first_dirty: int
    upper: int
    cleanable: list[LogSegment]
    sources: list[Source]  # one per segment of the log, in order (cleanable ones first)
    directory_path: str | None
    max_map_entries: int
    stats: CleanStats
    io_rate: float = float("inf")  # log.cleaner.io.max.bytes.per.second


@dataclass
class _SegmentOutput:
    segment: LogSegment
    size_before: int
    data: bytes | None = None  # in memory
    temp_path: str | None = None  # on disk


@dataclass
class _Result:
    outputs: list[_SegmentOutput] = field(default_factory=list)
    end_offset: int = 0
    next_horizon: int | None = None


class LogCleaner:
    """Owned by the broker: `run` is its background task; `clean_once` cleans every log that needs it now."""

    def __init__(
        self,
        targets: Callable[[], list[CleanTarget]],
        *,
        backoff_ms: Callable[[], int] | int = 15000,
        dedupe_buffer_bytes: Callable[[], int] | int = 128 * 1024 * 1024,
        enabled: Callable[[], bool] | bool = True,
        clock: Callable[[], int] | None = None,
        io_max_bytes_per_second: Callable[[], float] | float = float("inf"),
    ) -> None:
        self._targets = targets
        self._io_rate = io_max_bytes_per_second
        self._backoff_ms = backoff_ms
        self._dedupe_bytes = dedupe_buffer_bytes
        self._enabled = enabled
        self._clock = clock or (lambda: time.time_ns() // 1_000_000)
        self._state: weakref.WeakKeyDictionary[Log, _LogState] = weakref.WeakKeyDictionary()
        self._stop = threading.Event()
        self.last_stats: list[CleanStats] = []
        self.passes = 0

    @staticmethod
    def _value(setting):  # type: ignore[no-untyped-def]
        return setting() if callable(setting) else setting

    async def run(self, task_status: anyio.abc.TaskStatus = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            while True:
                await anyio.sleep(max(int(self._value(self._backoff_ms)), 10) / 1000)
                if self._value(self._enabled):
                    await self.clean_once()
        finally:
            self._stop.set()  # a cleaning thread left behind by cancellation stops at its next batch

    async def clean_once(self) -> list[CleanStats]:
        done = []
        for target in self._targets():
            try:
                stats = await self.clean_log(target)
            except CleaningAborted as exc:
                log.info("%s: cleaning abandoned: %s", target.name, exc)
                continue
            except Exception:
                log.exception("%s: cleaning failed", target.name)
                continue
            if stats is not None:
                done.append(stats)
            await anyio.sleep(0)
        self.passes += 1
        if done:
            self.last_stats = done
        return done

    def first_dirty_offset(self, log_: Log) -> int:
        state = self._state.get(log_)
        return state.first_dirty if state else log_.log_start_offset

    async def clean_log(self, target: CleanTarget, *, force: bool = False) -> CleanStats | None:
        """One cleaning pass of one log when it needs one (always when force); its stats, None if skipped."""
        plan = self._plan(target, force)
        if plan is None:
            return None
        started = time.perf_counter()
        try:
            result = await anyio.to_thread.run_sync(partial(_clean, plan, self._stop), abandon_on_cancel=True)
        finally:
            for source in plan.sources:
                source.close()
        self._swap(plan, result)
        plan.stats.seconds = time.perf_counter() - started
        plan.stats.end_offset = result.end_offset
        log.info(
            "%s: cleaned offsets %d..%d in %d segment(s): %d -> %d bytes, %d of %d records kept, %d tombstone(s) and "
            "%d aborted record(s) removed, %.3fs", target.name, plan.stats.first_dirty, result.end_offset,
            plan.stats.segments, plan.stats.bytes_read, plan.stats.bytes_written, plan.stats.records_kept,
            plan.stats.records_read, plan.stats.tombstones_removed, plan.stats.aborted_removed, plan.stats.seconds)
        return plan.stats

    # -- planning (event loop)

    def _plan(self, target: CleanTarget, force: bool) -> _Plan | None:
        log_ = target.log
        if log_.closed:
            return None
        now = self._clock()
        state = self._state.setdefault(log_, _LogState(first_dirty=log_.log_start_offset))
        state.first_dirty = max(state.first_dirty, log_.log_start_offset)
        segments = list(log_.log_segments)
        if len(segments) < 2:
            return None
        active = segments[-1]
        stable = target.stable_offset
        if stable is None:
            stable = getattr(log_, "last_stable_offset", log_.high_watermark)
        upper = min(active.base_offset, stable, log_.high_watermark)
        config = target.config
        if config.min_compaction_lag_ms > 0:
            for segment in segments[:-1]:
                if segment.largest_timestamp > now - config.min_compaction_lag_ms:
                    upper = min(upper, segment.base_offset)
                    break
        cleanable: list[LogSegment] = []
        for segment, following in zip(segments, segments[1:]):
            if following.base_offset > upper:
                break
            cleanable.append(segment)
        if not cleanable:
            return None
        bounds = {s.base_offset: f.base_offset for s, f in zip(segments, segments[1:])}
        dirty = [s for s in cleanable if bounds[s.base_offset] > state.first_dirty]
        total = sum(s.size for s in cleanable)
        dirty_bytes = sum(s.size for s in dirty)
        ratio = dirty_bytes / total if total else 0.0
        due = force or (dirty_bytes > 0 and ratio >= config.min_cleanable_ratio)
        if not due and dirty and config.max_compaction_lag_ms < 2**63 - 1:
            due = now - dirty[0].largest_timestamp > config.max_compaction_lag_ms
        if not due and state.next_horizon is not None and state.next_horizon <= now:
            due = True
        if not due:
            return None
        sources: list[Source] = []
        try:
            for segment in segments:
                sources.append(Source(segment, snapshot=segment is active))
        except OSError:
            for source in sources:
                source.close()
            raise
        path = log_.directory.path
        return _Plan(
            target=target, now_ms=now, first_dirty=state.first_dirty, upper=upper, cleanable=cleanable,
            sources=sources, directory_path=None if path is None else str(path),
            max_map_entries=max(int(self._value(self._dedupe_bytes)) // MAP_ENTRY_BYTES, 1),
            stats=CleanStats(target.name, first_dirty=state.first_dirty),
            io_rate=float(self._value(self._io_rate)),
        )

    # -- swapping (event loop)

    def _swap(self, plan: _Plan, result: _Result) -> None:
        log_ = plan.target.log
        state = self._state.setdefault(log_, _LogState())
        swapped = 0
        for output in result.outputs:
            try:
                if self._still_there(log_, output):
                    _replace_segment(log_, output)
                    swapped += 1
            finally:
                if output.temp_path is not None and os.path.exists(output.temp_path):
                    os.unlink(output.temp_path)
        plan.stats.segments = swapped
        if not log_.closed:
            state.first_dirty = max(state.first_dirty, result.end_offset)
            state.next_horizon = result.next_horizon

    @staticmethod
    def _still_there(log_: Log, output: _SegmentOutput) -> bool:
        if log_.closed:
            return False
        segments = log_.log_segments
        current = segments.get(output.segment.base_offset)
        return current is output.segment and current is not segments.active and current.size == output.size_before


def _replace_segment(log_: Log, output: _SegmentOutput) -> None:
    """Put the cleaned copy in place of the segment, under the same base offset (see the module docstring for the
    order of steps and what a crash leaves)."""
    old = output.segment
    directory = log_.directory
    base = old.base_offset
    mtime_ms = old.log.mtime_ms()  # kept, as Kafka's cleaner keeps it: time retention of untimed records uses it
    old.offset_index.close()
    old.time_index.close()
    directory.delete(segment_file_name(base, INDEX_SUFFIX))
    directory.delete(segment_file_name(base, TIME_INDEX_SUFFIX))
    name = segment_file_name(base, LOG_SUFFIX)
    if output.temp_path is not None:
        assert directory.path is not None
        os.replace(output.temp_path, os.path.join(directory.path, name))
        sync = getattr(directory, "sync", None)
        if sync is not None:
            sync()
    else:
        directory.write_atomic(name, output.data or b"")
    old.log.close()
    txn_index = getattr(old, "txn_index", None)
    if txn_index is not None:
        txn_index.close()
    new = LogSegment.open(directory, base, log_.config)
    new.log.set_mtime_ms(mtime_ms)
    log_.log_segments.add(new)


# -- the cleaning itself (worker thread) -----------------------------------------------------------------------


def _clean(plan: _Plan, stop: threading.Event) -> _Result:
    stats = plan.stats
    throttler = Throttler(plan.io_rate, stop)
    for each in plan.sources:
        each.throttler = throttler
    try:
        return _clean_range(plan, stop, throttler)
    finally:
        stats.throttled_seconds = throttler.slept


def _clean_range(plan: _Plan, stop: threading.Event, throttler: Throttler) -> _Result:
    stats = plan.stats
    now = plan.now_ms
    config = plan.target.config
    n_clean = len(plan.cleanable)
    clean_sources = plan.sources[:n_clean]

    # 1. one scan of every batch header: transactions (aborted ones, open ones) and each producer's last batch
    aborted: set[int] = set()  # base offsets of data batches of aborted transactions
    open_txn: dict[int, list[int]] = {}  # producer id -> base offsets of its undecided transactional batches
    open_first: dict[int, int] = {}
    last_of_producer: dict[int, int] = {}
    for source in plan.sources:
        for position, header, _ in source.closing(source.batches(with_bytes=False)):
            if stop.is_set():
                raise CleaningAborted("broker stopping")
            pid = header.producer_id
            if pid >= 0:
                last_of_producer[pid] = header.last_offset
            if not header.is_transactional or pid < 0:
                continue
            if header.is_control:
                if _control_type(source, position, header) == CONTROL_ABORT:
                    aborted.update(open_txn.get(pid, ()))
                open_txn.pop(pid, None)
                open_first.pop(pid, None)
            else:
                open_txn.setdefault(pid, []).append(header.base_offset)
                open_first.setdefault(pid, header.base_offset)
    upper = min([plan.upper, *open_first.values()])
    bounds = [s.base_offset for s in plan.sources[1:]] + [2**63 - 1]
    cleanable = [i for i in range(n_clean) if bounds[i] <= upper]
    if not cleanable:
        return _Result(end_offset=plan.first_dirty)

    # 2. the offset map over the dirty range
    offsets: dict[bytes, int] = {}
    map_end = bounds[cleanable[-1]]
    full = False
    for i in cleanable:
        if full:
            break
        if bounds[i] <= plan.first_dirty:
            continue
        for _, header, data in clean_sources[i].closing(clean_sources[i].batches(with_bytes=True)):
            if stop.is_set():
                raise CleaningAborted("broker stopping")
            if header.last_offset < plan.first_dirty or header.is_control or header.base_offset in aborted:
                continue
            if len(offsets) + header.record_count > plan.max_map_entries and offsets:
                map_end = header.base_offset
                full = True
                break
            for record in decode_records(data, verify_crc=False):
                offset = header.base_offset + record.offset_delta
                if record.key is not None and offset >= plan.first_dirty:
                    offsets[record.key] = offset

    # 3. copy the range, segment by segment
    result = _Result(end_offset=map_end)
    for i in cleanable:
        segment = plan.cleanable[i]
        if segment.base_offset >= map_end:
            break
        source = clean_sources[i]
        output = _SegmentOutput(segment, source.size)
        writer = Writer(plan.directory_path, segment.base_offset)
        changed = False
        try:
            for _, header, data in source.closing(source.batches(with_bytes=True)):
                if stop.is_set():
                    raise CleaningAborted("broker stopping")
                stats.bytes_read += header.size
                kept, horizon = _filter_batch(header, data, offsets, map_end, aborted, last_of_producer,
                                              now, config, stats)
                if kept is not data:
                    changed = True
                if kept:
                    writer.write(kept)
                    throttler.maybe_throttle(len(kept))
                if horizon is not None and (result.next_horizon is None or horizon < result.next_horizon):
                    result.next_horizon = horizon
            if changed:
                output.data, output.temp_path = writer.finish()
                stats.bytes_written += writer.size
                result.outputs.append(output)
            else:
                writer.discard()
                stats.bytes_written += source.size
        except BaseException:
            writer.discard()
            raise
    return result


def _control_type(source: Source, position: int, header: BatchHeader) -> int | None:
    """The type of a control batch's record (ABORT 0, COMMIT 1), None when unreadable."""
    try:
        records = decode_records(source.read(position, header.size), verify_crc=False)
        return read_control_record(records[0])[0] if records else None
    except ValueError:
        return None


def _filter_batch(header: BatchHeader, data: bytes, offsets: dict[bytes, int], map_end: int, aborted: set[int],
                  last_of_producer: dict[int, int], now: int, config: CleanerConfig,
                  stats: CleanStats) -> tuple[bytes | None, int | None]:
    """The batch as the cleaned log keeps it (the same object when unchanged, None when dropped) and the delete
    horizon of the tombstones it keeps (None when it keeps none)."""
    keep_empty = header.producer_id >= 0 and last_of_producer.get(header.producer_id) == header.last_offset
    if header.is_control or header.base_offset >= map_end:
        stats.records_read += header.record_count
        stats.records_kept += header.record_count
        return data, None
    if header.is_transactional and header.base_offset in aborted:
        stats.records_read += header.record_count
        stats.aborted_removed += header.record_count
        return (_empty_batch(header) if keep_empty else None), None
    has_horizon = bool(header.attributes & DELETE_HORIZON_BIT)
    horizon = header.base_timestamp if has_horizon else None
    records = decode_records(data, verify_crc=False)
    stats.records_read += len(records)
    kept: list[Record] = []
    tombstones = False
    for record in records:
        offset = header.base_offset + record.offset_delta
        if record.key is None:
            continue
        if offsets.get(record.key, offset) > offset:
            continue
        if record.value is None:
            if horizon is not None and horizon <= now:
                stats.tombstones_removed += 1
                continue
            tombstones = True
        kept.append(record)
    stats.records_kept += len(kept)
    if not kept:
        return (_empty_batch(header) if keep_empty else None), None
    if tombstones and horizon is None:
        horizon = now + config.delete_retention_ms
        return _rebuild(header, kept, horizon), horizon
    if len(kept) == len(records):
        return data, (horizon if tombstones else None)
    return _rebuild(header, kept, horizon if has_horizon else None), (horizon if tombstones else None)


def _rebuild(header: BatchHeader, records: list[Record], horizon: int | None) -> bytes:
    """A batch of the kept records with the original's offsets, producer fields and codec (and, when horizon is
    given, the delete horizon as its base timestamp)."""
    base_timestamp = header.base_timestamp if horizon is None else horizon
    shift = header.base_timestamp - base_timestamp
    rebuilt = [Record(r.offset_delta, r.timestamp_delta + shift, r.key, r.value, r.headers, r.attributes)
               for r in records]
    if header.is_log_append_time:
        max_timestamp = header.max_timestamp
    else:
        max_timestamp = max(base_timestamp + r.timestamp_delta for r in rebuilt)
    batch = bytearray(build_batch(
        rebuilt, base_offset=header.base_offset, compression=header.compression,
        timestamp_type_log_append=header.is_log_append_time, base_timestamp=base_timestamp,
        producer_id=header.producer_id, producer_epoch=header.producer_epoch, base_sequence=header.base_sequence,
        transactional=header.is_transactional, control=header.is_control,
        partition_leader_epoch=header.partition_leader_epoch, last_offset_delta=header.last_offset_delta,
        max_timestamp=max_timestamp,
    ))
    if horizon is not None:
        set_attributes(batch, 0, parse_header(batch).attributes | DELETE_HORIZON_BIT)
    return bytes(batch)


def _empty_batch(header: BatchHeader) -> bytes:
    """The batch without records (Kafka's RETAIN_EMPTY: it keeps the producer's last sequence and epoch)."""
    batch = bytearray(build_batch(
        [], base_offset=header.base_offset, compression=0, timestamp_type_log_append=header.is_log_append_time,
        base_timestamp=header.base_timestamp, producer_id=header.producer_id, producer_epoch=header.producer_epoch,
        base_sequence=header.base_sequence, transactional=header.is_transactional, control=header.is_control,
        partition_leader_epoch=header.partition_leader_epoch, last_offset_delta=header.last_offset_delta,
        max_timestamp=header.max_timestamp,
    ))
    return bytes(batch)
