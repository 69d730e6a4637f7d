"""One segment of a partition log: a .log file of whole batches starting at `base_offset`, with its sparse
offset and time indexes.

The segment knows nothing of the partition around it: the Log decides when to roll, which segment to read,
what to delete; the segment appends, reads whole batches, maps offsets and timestamps to positions, truncates,
and rebuilds its indexes from the .log file when they are missing or do not match it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from wire.records import HEADER_SIZE, BatchHeader, CorruptRecordError, parse_header

from .config import LogConfig
from .file_records import FileRecords
from .index import INT32_MAX, IndexCorruptError
from .offset_index import OffsetIndex
from .storage import Bytes, Directory
from .time_index import NO_TIMESTAMP, TimeIndex, TimestampOffset
from .txn_index import TransactionIndex

log = logging.getLogger(__name__)

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIME_INDEX_SUFFIX = ".timeindex"
TXN_INDEX_SUFFIX = ".txnindex"
_NO_MAX = TimestampOffset(NO_TIMESTAMP, -1)


def segment_file_name(base_offset: int, suffix: str) -> str:
    """`<20-digit base offset><suffix>`: names sort in offset order, as Kafka's do."""
    return f"{base_offset:020d}{suffix}"


def parse_segment_file_name(name: str) -> tuple[int, str] | None:
    """(base offset, suffix) of a segment file name, None for any other file."""
    stem, dot, suffix = name.partition(".")
    if not dot or len(stem) != 20 or not stem.isdigit():
        return None
    return int(stem), "." + suffix


@dataclass(slots=True)
class SegmentRead:
    records: bytes | memoryview
    first_offset: int
    """Base offset of the first batch returned (of the batch that would come next when none is)."""
    next_offset: int
    """Offset after the last batch returned; the next read starts here."""


class LogSegment:
    def __init__(self, directory: Directory, base_offset: int, config: LogConfig, *, indexes_present: bool) -> None:
        self.directory = directory
        self.base_offset = base_offset
        self.config = config
        self.log = FileRecords(directory.open(segment_file_name(base_offset, LOG_SUFFIX)))
        max_index = config.segment_index_bytes
        self.offset_index = OffsetIndex(directory, segment_file_name(base_offset, INDEX_SUFFIX), base_offset, max_index)
        self.time_index = TimeIndex(directory, segment_file_name(base_offset, TIME_INDEX_SUFFIX), base_offset, max_index)
        self.txn_index = TransactionIndex(directory, segment_file_name(base_offset, TXN_INDEX_SUFFIX))
        """Aborted transactions whose ABORT marker is in this segment (created on the first one)."""
        self._indexes_present = indexes_present
        self._indexes_ready = False
        self._bytes_since_last_index_entry = 0
        self._max: TimestampOffset | None = None  # largest timestamp and its (shallow) offset, loaded lazily
        self.first_append_ms: int | None = None
        """Wall clock of the first append since this segment was created or loaded; drives segment_ms rolls."""

    @classmethod
    def open(cls, directory: Directory, base_offset: int, config: LogConfig) -> LogSegment:
        """An existing segment; its indexes are checked (and rebuilt if needed) when first used."""
        present = all(
            directory.exists(segment_file_name(base_offset, s)) for s in (INDEX_SUFFIX, TIME_INDEX_SUFFIX)
        )
        return cls(directory, base_offset, config, indexes_present=present)

    @classmethod
    def create(cls, directory: Directory, base_offset: int, config: LogConfig) -> LogSegment:
        """A new empty segment; files left at this base offset by an earlier segment are discarded."""
        for suffix in (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX):
            directory.delete(segment_file_name(base_offset, suffix))
        segment = cls(directory, base_offset, config, indexes_present=True)
        segment.offset_index.rebuild_start()
        segment.time_index.rebuild_start()
        segment._indexes_ready = True
        segment._max = _NO_MAX
        return segment

    def __repr__(self) -> str:
        return f"LogSegment(base_offset={self.base_offset}, size={self.size})"

    @property
    def size(self) -> int:
        return self.log.size

    # -- indexes --

    def _ensure_indexes(self) -> None:
        if self._indexes_ready:
            return
        try:
            if not self._indexes_present:
                raise IndexCorruptError("index files missing")
            self.offset_index.load()
            self.time_index.load()
            self._sanity_check()
        except (IndexCorruptError, CorruptRecordError) as exc:
            log.warning("%s: rebuilding indexes of segment %d: %s", self.directory.name, self.base_offset, exc)
            self.rebuild_indexes()
        self._indexes_ready = True

    def _sanity_check(self) -> None:
        """Cheap checks that the indexes describe this .log file: the last offset entry points at a batch that
        starts at or before its offset, and nothing points past the end of the file."""
        if self.offset_index.entries:
            last = self.offset_index.last_entry()
            if last.position + HEADER_SIZE > self.size:
                raise IndexCorruptError(f"last index entry {last} beyond the log's {self.size} bytes")
            header = parse_header(self.log.read(last.position, HEADER_SIZE))
            if header.magic != 2 or not self.base_offset <= header.base_offset <= last.offset:
                raise IndexCorruptError(f"last index entry {last} does not point at a batch holding its offset")
        if self.size == 0 and (self.offset_index.entries or self.time_index.entries):
            raise IndexCorruptError("entries for an empty log")

    def rebuild_indexes(self) -> None:
        """Rebuild both indexes from the batch headers of the .log file, leaving the file alone (if its tail is
        unreadable the indexes simply stop there; truncating is recovery's decision, not a reader's)."""
        try:
            self._index_batches(self.log.headers())
        except CorruptRecordError as exc:
            log.warning("%s: segment %d has unreadable batches: %s", self.directory.name, self.base_offset, exc)

    def recover(self, on_batch: Callable[[BatchHeader], None] | None = None) -> int:
        """Validate every batch (framing, CRC, offsets moving forward), rebuild the indexes, and cut the file
        at the first batch that fails. Returns the number of bytes cut. The transaction index is emptied: the
        loader rebuilds it while it replays producer state over the recovered segments."""
        self.txn_index.reset()
        valid_end = self._index_batches(self.log.valid_batches(), on_batch)
        truncated = self.size - valid_end
        if truncated:
            self.log.truncate_to(valid_end)
        return truncated

    def _index_batches(
        self, batches: Iterable[tuple[int, BatchHeader]], on_batch: Callable[[BatchHeader], None] | None = None
    ) -> int:
        """Index the batches from the start of the file (recording the largest timestamp) and return the
        position after the last one accepted."""
        self.offset_index.rebuild_start()
        self.time_index.rebuild_start()
        self._indexes_present = True
        self._indexes_ready = True
        interval = self.config.index_interval_bytes
        best = _NO_MAX
        since_entry = 0
        expected = self.base_offset
        valid_end = 0
        try:
            for position, header in batches:
                if header.base_offset < expected or header.last_offset - self.base_offset > INT32_MAX:
                    log.warning(
                        "%s: batch at %d of segment %d has offsets %d..%d out of order",
                        self.directory.name, position, self.base_offset, header.base_offset, header.last_offset,
                    )
                    break
                if header.max_timestamp > best.timestamp:
                    best = TimestampOffset(header.max_timestamp, header.last_offset)
                if since_entry > interval:
                    self.offset_index.append(header.last_offset, position)
                    self.time_index.maybe_append(best.timestamp, best.offset)
                    since_entry = 0
                since_entry += header.size
                if on_batch is not None:
                    on_batch(header)
                expected = header.last_offset + 1
                valid_end = position + header.size
        finally:
            self.time_index.maybe_append(best.timestamp, best.offset, skip_full_check=True)
            self._max = best
            self._bytes_since_last_index_entry = since_entry
        return valid_end

    # -- timestamps --

    def _max_timestamp(self) -> TimestampOffset:
        if self._max is None:
            try:
                if not self._indexes_present:
                    raise IndexCorruptError("index files missing")
                self._max = self.time_index.last_entry() or _NO_MAX
            except IndexCorruptError:
                self._ensure_indexes()
                self._max = self.time_index.last_entry() or _NO_MAX
        return self._max

    @property
    def max_timestamp(self) -> int:
        """Largest batch maxTimestamp in the segment, -1 when none has one."""
        return self._max_timestamp().timestamp

    @property
    def offset_of_max_timestamp(self) -> int:
        """Last offset of the batch holding max_timestamp (-1 when none)."""
        return self._max_timestamp().offset

    @property
    def largest_timestamp(self) -> int:
        """What time retention judges the segment by: its largest record timestamp, or the .log file's
        modification time when no batch carries a timestamp (Kafka's rule)."""
        ts = self.max_timestamp
        return ts if ts >= 0 else self.log.mtime_ms()

    # -- writes --

    def should_roll(self, *, incoming_bytes: int, largest_offset: int, now_ms: int) -> bool:
        """Whether an append of incoming_bytes ending at largest_offset must go to a new segment."""
        if self.size == 0:
            return False  # a new segment would start at the same offset: take the append however big
        config = self.config
        if self.size + incoming_bytes > config.segment_bytes:
            return True
        if self.first_append_ms is not None and now_ms - self.first_append_ms > config.segment_ms:
            return True
        if largest_offset - self.base_offset > INT32_MAX:
            return True
        self._ensure_indexes()
        return self.offset_index.is_full or self.time_index.is_full

    def append(self, records: Bytes, *, largest_offset: int, largest_timestamp: int, offset_of_max_timestamp: int) -> None:
        """Append whole batches (offsets already assigned); one index entry per index_interval_bytes."""
        self._ensure_indexes()
        self.offset_index.relative(largest_offset)  # refuse offsets the index could not hold
        current = self._max_timestamp()
        position = self.log.append(records)  # a failed write takes back what part of it got written
        if largest_timestamp > current.timestamp:
            self._max = TimestampOffset(largest_timestamp, offset_of_max_timestamp)
        if self._bytes_since_last_index_entry > self.config.index_interval_bytes:
            try:
                self.offset_index.append(largest_offset, position)
                best = self._max_timestamp()
                self.time_index.maybe_append(best.timestamp, best.offset)
            except OSError:
                # the records are written but an index entry is not: take the records back too, so that the
                # caller's failed append leaves nothing behind (offsets stay unassigned, the log ends on a batch)
                self.offset_index.truncate_to(largest_offset)
                self.log.truncate_to(position)
                self._max = current
                raise
            self._bytes_since_last_index_entry = 0
        self._bytes_since_last_index_entry += len(records)

    def on_become_inactive(self) -> None:
        """Record the final largest timestamp in the time index, so it can be read back from the index alone."""
        if self._max is not None and self._indexes_ready:
            self.time_index.maybe_append(self._max.timestamp, self._max.offset, skip_full_check=True)

    def truncate_to(self, offset: int) -> int:
        """Drop the batch holding offset and everything after it; returns the bytes removed."""
        found = self.translate_offset(offset)
        if found is None:
            return 0
        position, _ = found
        self.offset_index.truncate_to(offset)
        self.time_index.truncate_to(offset)
        self.txn_index.truncate_to(offset)
        removed = self.size - position
        self.log.truncate_to(position)
        self._bytes_since_last_index_entry = 0
        if self.size == 0:
            self.first_append_ms = None
        last = self.time_index.last_entry()
        if last is None:
            ts, off = self.log.largest_timestamp_after(0)
        else:
            ts, off = self.log.largest_timestamp_after(self.offset_index.lookup(last.offset).position)
            if last.timestamp >= ts:
                ts, off = last
        self._max = TimestampOffset(ts, off)
        return removed

    # -- reads --

    def translate_offset(self, offset: int, start_position: int = 0) -> tuple[int, BatchHeader] | None:
        """(position, header) of the first batch whose last offset is >= offset, None past the segment's end."""
        self._ensure_indexes()
        start = max(self.offset_index.lookup(offset).position, start_position)
        return self.log.search_for_offset(offset, start)

    def read(
        self,
        start_offset: int,
        max_bytes: int,
        *,
        max_position: int | None = None,
        max_offset: int | None = None,
        min_one_batch: bool = True,
    ) -> SegmentRead | None:
        """Whole batches from the one holding start_offset (see FileRecords.slice); None when the segment ends
        before start_offset, so the caller moves on to the next segment."""
        found = self.translate_offset(start_offset)
        if found is None:
            return None
        position, header = found
        records, next_offset = self.log.slice(
            position, header, max_bytes, end=max_position, max_offset=max_offset, min_one_batch=min_one_batch
        )
        return SegmentRead(records, header.base_offset, next_offset)

    def find_offset_by_timestamp(self, timestamp: int, start_offset: int) -> tuple[int, BatchHeader] | None:
        """(position, header) of the first batch ending at or after start_offset with maxTimestamp >= timestamp.
        The time index gives the last point known to be too early; the scan starts right after it."""
        self._ensure_indexes()
        before = self.time_index.lookup_before(timestamp)
        from_offset = max(start_offset, self.base_offset if before is None else before.offset + 1)
        position = self.offset_index.lookup(from_offset).position
        return self.log.search_for_timestamp(timestamp, position, from_offset)

    def read_batch(self, position: int, header: BatchHeader) -> bytes:
        return self.log.read(position, header.size)

    def read_next_offset(self) -> int:
        """The offset after the segment's last batch (its base offset when empty): from the last index entry,
        a short scan to the end of the file."""
        self._ensure_indexes()
        next_offset = self.base_offset
        for _, header in self.log.headers(self.offset_index.last_entry().position):
            next_offset = header.last_offset + 1
        return next_offset

    # -- lifecycle --

    def file_paths(self) -> list[Path]:
        """The segment's files on disk (none in memory), for a flush on another thread."""
        root = self.directory.path
        if root is None:
            return []
        return [root / segment_file_name(self.base_offset, suffix)
                for suffix in (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX)]

    def flush(self) -> None:
        self.log.flush()
        self.offset_index.flush()
        self.time_index.flush()
        self.txn_index.flush()

    def close(self) -> None:
        self.on_become_inactive()
        self.log.close()
        self.offset_index.close()
        self.time_index.close()
        self.txn_index.close()
        self._indexes_ready = False

    def release_indexes(self) -> None:
        """Free the in-memory index entries of a segment nobody reads; they load again when needed."""
        self.txn_index.close()
        if self._indexes_ready:
            self.on_become_inactive()
            self.offset_index.close()
            self.time_index.close()
            self._indexes_ready = False

    def delete(self) -> None:
        self.log.close()
        self.directory.delete(segment_file_name(self.base_offset, LOG_SUFFIX))
        self.offset_index.delete()
        self.time_index.delete()
        self.txn_index.delete()
        self._indexes_ready = False
