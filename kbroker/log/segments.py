"""The ordered segments of one log, looked up by offset (Kafka's LogSegments)."""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Iterator

from .segment import LogSegment


class LogSegments:
    """Segments sorted by base offset; the last one is the active segment that takes appends."""

    def __init__(self, segments: list[LogSegment] | None = None) -> None:
        self._segments: list[LogSegment] = []
        self._bases: list[int] = []
        for segment in segments or ():
            self.add(segment)

    def __len__(self) -> int:
        return len(self._segments)

    def __iter__(self) -> Iterator[LogSegment]:
        return iter(list(self._segments))

    def __bool__(self) -> bool:
        return bool(self._segments)

    @property
    def base_offsets(self) -> list[int]:
        return list(self._bases)

    def add(self, segment: LogSegment) -> None:
        """Insert (or replace the segment with the same base offset)."""
        i = bisect_left(self._bases, segment.base_offset)
        if i < len(self._bases) and self._bases[i] == segment.base_offset:
            self._segments[i] = segment
        else:
            self._bases.insert(i, segment.base_offset)
            self._segments.insert(i, segment)

    def remove(self, segment: LogSegment) -> None:
        i = bisect_left(self._bases, segment.base_offset)
        if i < len(self._bases) and self._segments[i] is segment:
            del self._bases[i]
            del self._segments[i]

    def clear(self) -> list[LogSegment]:
        removed = self._segments
        self._segments, self._bases = [], []
        return removed

    @property
    def first(self) -> LogSegment:
        return self._segments[0]

    @property
    def active(self) -> LogSegment:
        return self._segments[-1]

    def get(self, base_offset: int) -> LogSegment | None:
        i = bisect_left(self._bases, base_offset)
        if i < len(self._bases) and self._bases[i] == base_offset:
            return self._segments[i]
        return None

    def floor(self, offset: int) -> LogSegment | None:
        """The segment that would hold offset: the last one whose base offset is <= offset."""
        i = bisect_right(self._bases, offset) - 1
        return self._segments[i] if i >= 0 else None

    def higher(self, base_offset: int) -> LogSegment | None:
        """The segment after the one based at base_offset."""
        i = bisect_right(self._bases, base_offset)
        return self._segments[i] if i < len(self._segments) else None

    def next_base_offset(self, segment: LogSegment) -> int | None:
        following = self.higher(segment.base_offset)
        return None if following is None else following.base_offset

    def from_offset(self, offset: int) -> list[LogSegment]:
        """The segment holding offset and every later one."""
        i = max(bisect_right(self._bases, offset) - 1, 0)
        return self._segments[i:]

    def after(self, offset: int) -> list[LogSegment]:
        """Segments whose base offset is >= offset."""
        return self._segments[bisect_left(self._bases, offset) :]

    @property
    def size_bytes(self) -> int:
        return sum(segment.size for segment in self._segments)
