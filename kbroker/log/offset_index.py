"""The sparse offset index of a segment: offset -> file position of a batch at or before it.

An entry (offset, position) says "the batches starting at position end with `offset`": the segment adds one
when at least index_interval_bytes were appended since the previous entry, keyed by the largest offset of the
append. A lookup finds the last entry at or below the target and the segment scans forward from there, at most
about index_interval_bytes of batch headers.
"""
from __future__ import annotations

import struct
import sys
from array import array
from bisect import bisect_left, bisect_right
from typing import NamedTuple

from .index import AbstractIndex, IndexCorruptError

_ENTRY = struct.Struct(">ii")


class OffsetPosition(NamedTuple):
    offset: int
    position: int


class OffsetIndex(AbstractIndex):
    ENTRY_SIZE = 8

    def _clear(self) -> None:
        self._offsets = array("i")  # relative offsets, strictly increasing
        self._positions = array("i")  # strictly increasing

    def _decode(self, data: bytes) -> None:
        flat = array("i")
        flat.frombytes(data)
        if sys.byteorder == "little":
            flat.byteswap()
        self._offsets = flat[0::2]
        self._positions = flat[1::2]

    def _check(self) -> None:
        if self._offsets and (self._offsets[0] < 0 or self._positions[0] < 0):
            raise IndexCorruptError(f"{self.name}: negative first entry")
        if len(self._offsets) > 1 and (
            self._offsets[-1] <= self._offsets[-2] or self._positions[-1] <= self._positions[-2]
        ):
            raise IndexCorruptError(f"{self.name}: last entries not increasing")

    def _count(self) -> int:
        return len(self._offsets)

    def _keep_below(self, relative_offset: int) -> int:
        return bisect_left(self._offsets, relative_offset)

    def _cut(self, keep: int) -> None:
        del self._offsets[keep:]
        del self._positions[keep:]

    def append(self, offset: int, position: int) -> None:
        self.load()
        rel = self.relative(offset)
        if self._offsets and (rel <= self._offsets[-1] or position <= self._positions[-1]):
            raise ValueError(
                f"{self.name}: entry ({offset}, {position}) not after "
                f"({self.base_offset + self._offsets[-1]}, {self._positions[-1]})"
            )
        self._file().append(_ENTRY.pack(rel, position))
        self._offsets.append(rel)
        self._positions.append(position)

    def lookup(self, offset: int) -> OffsetPosition:
        """The last entry with offset <= target, or (base offset, 0) when there is none."""
        self.load()
        i = bisect_right(self._offsets, offset - self.base_offset) - 1
        if i < 0:
            return OffsetPosition(self.base_offset, 0)
        return OffsetPosition(self.base_offset + self._offsets[i], self._positions[i])

    def last_entry(self) -> OffsetPosition:
        self.load()
        if not self._offsets:
            return OffsetPosition(self.base_offset, 0)
        return OffsetPosition(self.base_offset + self._offsets[-1], self._positions[-1])

    def entry(self, i: int) -> OffsetPosition:
        self.load()
        return OffsetPosition(self.base_offset + self._offsets[i], self._positions[i])
