"""What the two sparse indexes of a segment share: a file of fixed-size big-endian entries, loaded lazily
into arrays, appended to with plain writes, cut back on truncation.

Entries hold offsets relative to the segment's base offset (int32), as Kafka's do, so an index stays half the
size and a segment can hold at most 2**31 offsets. Loading is lazy because a broker has many segments and most
are never read again; only the active segment and the ones a fetch touches get their index in memory.
"""
from __future__ import annotations

from typing import ClassVar

from .storage import Directory, Storage

INT32_MAX = 2**31 - 1


class IndexCorruptError(Exception):
    """An index file that cannot be right for its segment; the segment rebuilds it from the .log file."""


class AbstractIndex:
    ENTRY_SIZE: ClassVar[int]

    def __init__(self, directory: Directory, name: str, base_offset: int, max_index_bytes: int) -> None:
        self.directory = directory
        self.name = name
        self.base_offset = base_offset
        self.max_entries = max(1, max_index_bytes // self.ENTRY_SIZE)
        self._storage: Storage | None = None
        self._loaded = False
        self._clear()

    # -- file --

    def file_exists(self) -> bool:
        return self.directory.exists(self.name)

    def _file(self) -> Storage:
        if self._storage is None:
            self._storage = self.directory.open(self.name)
        return self._storage

    @property
    def loaded(self) -> bool:
        return self._loaded

    def load(self) -> None:
        """Read the whole file into memory (once); IndexCorruptError when it cannot be an index."""
        if self._loaded:
            return
        storage = self._file()
        size = storage.size
        if size % self.ENTRY_SIZE:
            raise IndexCorruptError(f"{self.name}: size {size} is not a multiple of {self.ENTRY_SIZE}")
        self._decode(storage.read(0, size))
        self._check()
        self._loaded = True

    def rebuild_start(self) -> None:
        """Drop every entry, file included, before entries are appended again from a scan of the log."""
        self._file().truncate(0)
        self._clear()
        self._loaded = True

    def relative(self, offset: int) -> int:
        rel = offset - self.base_offset
        if not 0 <= rel <= INT32_MAX:
            raise ValueError(f"offset {offset} does not fit an index based at {self.base_offset}")
        return rel

    @property
    def entries(self) -> int:
        self.load()
        return self._count()

    @property
    def is_full(self) -> bool:
        return self.entries >= self.max_entries

    def truncate_to(self, offset: int) -> None:
        """Remove every entry whose offset is >= offset."""
        self.load()
        keep = self._keep_below(offset - self.base_offset)
        if keep < self._count():
            self._cut(keep)
            self._file().truncate(keep * self.ENTRY_SIZE)

    def flush(self) -> None:
        if self._storage is not None:
            self._storage.flush()

    def close(self) -> None:
        """Release the file and the in-memory entries; the next use loads them again."""
        if self._storage is not None:
            self._storage.close()
            self._storage = None
        self._clear()
        self._loaded = False

    def delete(self) -> None:
        self.close()
        self.directory.delete(self.name)

    # -- per index type --

    def _decode(self, data: bytes) -> None:
        raise NotImplementedError

    def _check(self) -> None:
        raise NotImplementedError

    def _clear(self) -> None:
        raise NotImplementedError

    def _count(self) -> int:
        raise NotImplementedError

    def _keep_below(self, relative_offset: int) -> int:
        raise NotImplementedError

    def _cut(self, keep: int) -> None:
        raise NotImplementedError
