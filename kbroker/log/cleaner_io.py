"""The I/O of a cleaning pass, on the cleaner's worker thread: segments read as they were when the pass was
planned (Source), the cleaned copy written beside the segment (_Writer), and the log.cleaner.io.max.bytes.per.second
throttle over both (Throttler)."""
from __future__ import annotations

import os
import threading
import time
from typing import Callable, Iterator

from wire.records import HEADER_SIZE, BatchHeader, parse_header

from .segment import LOG_SUFFIX, LogSegment, segment_file_name
from .storage import MemoryStorage

CLEANED_SUFFIX = ".cleaned"
_READ_CHUNK = 1 << 20


class CleaningAborted(Exception):
    pass


# -- reading segments from the worker thread -----------------------------------------------------------------


class Throttler:
    """log.cleaner.io.max.bytes.per.second (Kafka's Throttler): the cleaning thread counts every byte it reads and
    writes and sleeps whenever it is ahead of the rate, so a pass cannot take the disk from produce and fetch.
    The sleep ends early when the broker stops."""

    def __init__(self, rate: float, stop: threading.Event | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._stop = stop or threading.Event()
        self._clock = clock
        self._start = clock()
        self._bytes = 0
        self.slept = 0.0
        """Seconds spent waiting for the rate (CleanStats.throttled_seconds)."""

    @property
    def limited(self) -> bool:
        return 0 < self.rate < float("inf")

    def maybe_throttle(self, size: int) -> None:
        if not self.limited or size <= 0:
            return
        self._bytes += size
        ahead = self._bytes / self.rate - (self._clock() - self._start)
        if ahead > 0:
            self.slept += ahead
            if self._stop.wait(ahead):
                raise CleaningAborted("broker stopping")


class Source:
    """The bytes of one segment as they were when the pass was planned, readable from another thread: the file
    opened by the worker itself, one segment at a time (a segment deleted meanwhile makes the pass give up), the
    storage object in memory, read up to the size it had when the pass was planned (the active in-memory
    segment keeps growing: it is read without exporting a buffer, never copied whole on the event loop)."""

    def __init__(self, segment: LogSegment, *, snapshot: bool) -> None:
        self.base_offset = segment.base_offset
        self.size = segment.size
        storage = segment.log.storage
        self._fd: int | None = None
        self._path: str | None = None
        self._storage = None
        self._growing = snapshot
        self.throttler: Throttler | None = None
        path = getattr(storage, "path", None)
        if isinstance(storage, MemoryStorage) or path is None:
            self._storage = storage
        else:
            self._path = str(path)

    def read(self, position: int, size: int) -> bytes:
        size = min(size, self.size - position)
        if size <= 0:
            return b""
        if self._path is not None:
            if self._fd is None:
                try:
                    self._fd = os.open(self._path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
                except FileNotFoundError:
                    raise CleaningAborted(f"segment {self.base_offset} was deleted during the pass") from None
            data = os.pread(self._fd, size, position)
            if len(data) < size:
                raise CleaningAborted(f"segment {self.base_offset} changed during the pass")
        elif self._growing and isinstance(self._storage, MemoryStorage):
            data = self._storage.read_from_thread(position, size)
            if len(data) < size:
                raise CleaningAborted(f"segment {self.base_offset} changed during the pass")
        else:
            data = self._storage.read(position, size)  # type: ignore[union-attr]
        if self.throttler is not None:
            self.throttler.maybe_throttle(len(data))
        return data

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def closing(self, items: Iterator) -> Iterator:  # type: ignore[type-arg]
        """items, then the file closed (also when the consumer stops early)."""
        try:
            yield from items
        finally:
            self.close()

    def batches(self, with_bytes: bool = False) -> Iterator[tuple[int, BatchHeader, bytes | None]]:
        """(position, header, whole batch bytes when asked) of every batch, read in large chunks."""
        position = 0
        chunk = b""
        chunk_start = 0
        while position + HEADER_SIZE <= self.size:
            offset = position - chunk_start
            if offset + HEADER_SIZE > len(chunk):
                chunk = self.read(position, max(_READ_CHUNK, HEADER_SIZE))
                chunk_start, offset = position, 0
            header = parse_header(chunk, offset)
            if header.magic != 2 or header.batch_length < HEADER_SIZE - 12 or position + header.size > self.size:
                raise CleaningAborted(f"unreadable batch at position {position} of segment {self.base_offset}")
            data = None
            if with_bytes:
                if offset + header.size > len(chunk):
                    chunk = self.read(position, max(_READ_CHUNK, header.size))
                    chunk_start, offset = position, 0
                data = chunk[offset:offset + header.size]
            yield position, header, data
            position += header.size


class Writer:
    """The cleaned copy of one segment: a temporary file beside it on disk, bytes in memory."""

    def __init__(self, directory: str | None, base_offset: int) -> None:
        self.size = 0
        self._chunks: list[bytes] | None = None
        self._fd: int | None = None
        self._path: str | None = None
        if directory is None:
            self._chunks = []
        else:
            self._path = os.path.join(directory, segment_file_name(base_offset, LOG_SUFFIX) + CLEANED_SUFFIX)
            self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o644)
        self._pending: list[bytes] = []
        self._pending_size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self._chunks is not None:
            self._chunks.append(data)
            return
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= _READ_CHUNK:
            self._flush_pending()

    def _flush_pending(self) -> None:
        if self._pending and self._fd is not None:
            view = memoryview(b"".join(self._pending))
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        self._pending, self._pending_size = [], 0

    def finish(self) -> tuple[bytes | None, str | None]:
        if self._chunks is not None:
            return b"".join(self._chunks), None
        self._flush_pending()
        assert self._fd is not None
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None
        return None, self._path

    def discard(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._path is not None and os.path.exists(self._path):
            os.unlink(self._path)
        self._chunks = None
