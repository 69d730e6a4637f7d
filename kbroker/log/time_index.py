"""The sparse time index of a segment: timestamp -> the offset up to which every timestamp is <= it.

An entry (timestamp, offset) is added beside an offset-index entry when the segment's largest timestamp grew
since the last entry; `offset` is the last offset of the batch that holds that timestamp (Kafka's "shallow"
offset). So entries have strictly increasing timestamps, and every record at or below an entry's offset has a
timestamp <= the entry's. A final entry with the segment's largest timestamp is added when the segment stops
being active (roll, close, recovery), which lets the last entry answer "largest timestamp of the segment"
without reading the log.
"""
from __future__ import annotations

import struct
from array import array
from bisect import bisect_left
from typing import NamedTuple

from .index import AbstractIndex, IndexCorruptError

_ENTRY = struct.Struct(">qi")
NO_TIMESTAMP = -1


class TimestampOffset(NamedTuple):
    timestamp: int
    offset: int


class TimeIndex(AbstractIndex):
    ENTRY_SIZE = 12

    def _clear(self) -> None:
        self._timestamps = array("q")  # strictly increasing
        self._offsets = array("i")  # relative, non-decreasing

    def _decode(self, data: bytes) -> None:
        self._clear()
        for ts, rel in _ENTRY.iter_unpack(data):
            self._timestamps.append(ts)
            self._offsets.append(rel)

    def _check(self) -> None:
        if self._offsets and self._offsets[0] < 0:
            raise IndexCorruptError(f"{self.name}: negative first offset")
        if len(self._offsets) > 1 and (
            self._offsets[-1] < self._offsets[-2] or self._timestamps[-1] <= self._timestamps[-2]
        ):
            raise IndexCorruptError(f"{self.name}: last entries not increasing")

    def _count(self) -> int:
        return len(self._timestamps)

    def _keep_below(self, relative_offset: int) -> int:
        return bisect_left(self._offsets, relative_offset)

    def _cut(self, keep: int) -> None:
        del self._timestamps[keep:]
        del self._offsets[keep:]

    def maybe_append(self, timestamp: int, offset: int, *, skip_full_check: bool = False) -> bool:
        """Add (timestamp, offset) if timestamp is newer than the last entry; returns whether it did."""
        self.load()
        if not skip_full_check and self.is_full:
            return False
        if timestamp <= NO_TIMESTAMP or (self._timestamps and timestamp <= self._timestamps[-1]):
            return False
        rel = self.relative(offset)
        if self._offsets and rel < self._offsets[-1]:
            raise ValueError(f"{self.name}: offset {offset} before the last entry's")
        self._file().append(_ENTRY.pack(timestamp, rel))
        self._timestamps.append(timestamp)
        self._offsets.append(rel)
        return True

    def lookup_before(self, timestamp: int) -> TimestampOffset | None:
        """The last entry whose timestamp is < timestamp: nothing at or below its offset can match a search
        for `timestamp`, so the scan may start right after it. None when every entry is >= timestamp."""
        self.load()
        i = bisect_left(self._timestamps, timestamp) - 1
        if i < 0:
            return None
        return TimestampOffset(self._timestamps[i], self.base_offset + self._offsets[i])

    def last_entry(self) -> TimestampOffset | None:
        """The newest entry, read from the file's tail when the index is not loaded (retention asks every
        segment for it; loading whole indexes for that would be wasteful)."""
        if self._loaded:
            if not self._timestamps:
                return None
            return TimestampOffset(self._timestamps[-1], self.base_offset + self._offsets[-1])
        storage = self._file()
        size = storage.size
        if size % self.ENTRY_SIZE:
            raise IndexCorruptError(f"{self.name}: size {size} is not a multiple of {self.ENTRY_SIZE}")
        if size == 0:
            return None
        ts, rel = _ENTRY.unpack(storage.read(size - self.ENTRY_SIZE, self.ENTRY_SIZE))
        return TimestampOffset(ts, self.base_offset + rel)
