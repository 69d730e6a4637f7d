"""Batch-level access to one segment's .log file: scan headers, find a batch by offset or timestamp, cut
whole batches for a fetch, validate batches after a crash.

Only headers are parsed (61 bytes a batch); record bodies are never decoded. Scans read the file through a
small window so that walking many small batches costs one read per window, not one per batch.
"""
from __future__ import annotations

import struct
from typing import Iterator

from wire.records import HEADER_SIZE, LOG_OVERHEAD, BatchHeader, CorruptRecordError, crc_ok, parse_header

from .storage import Bytes, Storage

_FRAME = struct.Struct(">qi")  # baseOffset, batchLength: enough to step over a batch
_MIN_BATCH_LENGTH = HEADER_SIZE - LOG_OVERHEAD
SCAN_WINDOW = 16 * 1024
RECOVERY_WINDOW = 1024 * 1024


class _Window:
    """Serves small reads of a storage from one cached chunk, refilling it at the asked position."""

    __slots__ = ("_storage", "_chunk", "_buf", "_start")

    def __init__(self, storage: Storage, chunk: int) -> None:
        self._storage = storage
        self._chunk = chunk
        self._buf = b""
        self._start = 0

    def get(self, position: int, size: int) -> memoryview | None:
        """size bytes at position, or None when the file ends first."""
        offset = position - self._start
        if offset < 0 or offset + size > len(self._buf):
            self._buf = self._storage.read(position, max(size, self._chunk))
            self._start = position
            offset = 0
            if len(self._buf) < size:
                return None
        return memoryview(self._buf)[offset : offset + size]


def _check_framing(header: BatchHeader, position: int, end: int) -> None:
    if header.magic != 2:
        raise CorruptRecordError(f"magic {header.magic} at position {position}")
    if header.batch_length < _MIN_BATCH_LENGTH or position + header.size > end:
        raise CorruptRecordError(f"batch length {header.batch_length} at position {position} does not fit")
    if header.last_offset_delta < 0:
        raise CorruptRecordError(f"negative lastOffsetDelta at position {position}")


class FileRecords:
    """The batches of one .log file (Kafka's FileRecords, batch level only)."""

    __slots__ = ("storage",)

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    @property
    def size(self) -> int:
        return self.storage.size

    def append(self, data: Bytes) -> int:
        return self.storage.append(data)

    def read(self, position: int, size: int) -> bytes:
        return self.storage.read(position, size)

    def truncate_to(self, size: int) -> None:
        self.storage.truncate(size)

    def flush(self) -> None:
        self.storage.flush()

    def close(self) -> None:
        self.storage.close()

    def mtime_ms(self) -> int:
        return self.storage.mtime_ms()

    def set_mtime_ms(self, mtime_ms: int) -> None:
        self.storage.set_mtime_ms(mtime_ms)

    # -- scans --

    def headers(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, BatchHeader]]:
        """(position, header) of each batch from start; CorruptRecordError on framing that cannot be right
        (which after recovery means the file was changed behind the broker's back)."""
        end = self.size if end is None else min(end, self.size)
        window = _Window(self.storage, SCAN_WINDOW)
        position = start
        while position < end:
            view = window.get(position, HEADER_SIZE)
            if view is None or position + HEADER_SIZE > end:
                raise CorruptRecordError(f"partial batch header at position {position}")
            header = parse_header(view)
            _check_framing(header, position, end)
            yield position, header
            position += header.size

    def valid_batches(self, start: int = 0) -> Iterator[tuple[int, BatchHeader]]:
        """Like headers(), with the CRC of every batch checked; stops quietly before the first batch that is
        partial, badly framed or corrupt, so the caller can truncate the file there."""
        end = self.size
        window = _Window(self.storage, RECOVERY_WINDOW)
        position = start
        while position + HEADER_SIZE <= end:
            view = window.get(position, HEADER_SIZE)
            if view is None:
                return
            header = parse_header(view)
            try:
                _check_framing(header, position, end)
            except CorruptRecordError:
                return
            batch = window.get(position, header.size)
            if batch is None or not crc_ok(batch, 0, header):
                return
            yield position, header
            position += header.size

    def search_for_offset(self, target: int, start: int = 0) -> tuple[int, BatchHeader] | None:
        """The first batch from start whose last offset is >= target (the batch holding target, or the next
        one when target fell in a gap), or None when the file has none."""
        for position, header in self.headers(start):
            if header.last_offset >= target:
                return position, header
        return None

    def search_for_timestamp(self, timestamp: int, start: int, start_offset: int) -> tuple[int, BatchHeader] | None:
        """The first batch from start ending at or after start_offset whose maxTimestamp is >= timestamp."""
        for position, header in self.headers(start):
            if header.last_offset >= start_offset and header.max_timestamp >= timestamp:
                return position, header
        return None

    def largest_timestamp_after(self, start: int) -> tuple[int, int]:
        """(largest maxTimestamp, last offset of its batch) over the batches from start; (-1, -1) if none."""
        best = (-1, -1)
        for _, header in self.headers(start):
            if header.max_timestamp > best[0]:
                best = (header.max_timestamp, header.last_offset)
        return best

    def slice(
        self,
        position: int,
        first: BatchHeader,
        max_bytes: int,
        *,
        end: int | None = None,
        max_offset: int | None = None,
        min_one_batch: bool = True,
    ) -> tuple[bytes | memoryview, int]:
        """Whole batches from position (where `first` starts) within max_bytes and before end, none whose base
        offset is >= max_offset; the first batch even beyond max_bytes when min_one_batch. Returns the bytes
        (to send as they are) and the offset after the last batch returned (first.base_offset when none)."""
        end = self.size if end is None else min(end, self.size)
        if (max_offset is not None and first.base_offset >= max_offset) or position + first.size > end:
            return b"", first.base_offset
        budget = min(max_bytes, end - position)
        if first.size > budget:
            if not min_one_batch:
                return b"", first.base_offset
            return self.read(position, first.size), first.last_offset + 1
        data = self.read(position, budget)
        cut = 0
        next_offset = first.base_offset
        available = len(data)
        while cut + LOG_OVERHEAD <= available:
            base_offset, batch_length = _FRAME.unpack_from(data, cut)
            if batch_length < _MIN_BATCH_LENGTH:
                raise CorruptRecordError(f"batch length {batch_length} at position {position + cut}")
            size = batch_length + LOG_OVERHEAD
            if cut + size > available or (max_offset is not None and base_offset >= max_offset):
                break
            next_offset = parse_header(data, cut).last_offset + 1
            cut += size
        if cut == available:
            return data, next_offset
        return memoryview(data)[:cut], next_offset
