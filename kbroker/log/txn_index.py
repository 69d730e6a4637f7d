"""The aborted transactions of one segment (Kafka's TransactionIndex, `<base offset>.txnindex`).

When an ABORT marker lands in a segment, one entry goes into that segment's index: the producer, the first and
last offset of the aborted transaction, and the last stable offset at the moment the marker was written. A
read_committed Fetch asks the segments from the one holding its fetch offset for the aborted transactions that
overlap what it returns, so the consumer can drop their records; the search stops at the first entry whose last
stable offset reaches the end of the fetched range (no later entry can start before it).

Entries are Kafka's 34 bytes: version int16 (0), producerId int64, firstOffset int64, lastOffset int64,
lastStableOffset int64. Committed transactions need no entry. The file is small (one entry per aborted
transaction); it is read whole on first use and kept in memory, and a file is opened only to write.
"""
from __future__ import annotations

import logging
import struct
from dataclasses import dataclass

from .storage import Directory, Storage

log = logging.getLogger(__name__)

_ENTRY = struct.Struct(">hqqqq")
ENTRY_SIZE = _ENTRY.size  # 34
VERSION = 0


@dataclass(frozen=True, slots=True)
class AbortedTxn:
    producer_id: int
    first_offset: int
    last_offset: int
    last_stable_offset: int

    def encode(self) -> bytes:
        return _ENTRY.pack(VERSION, self.producer_id, self.first_offset, self.last_offset, self.last_stable_offset)


@dataclass(slots=True)
class TxnIndexSearchResult:
    aborted: list[AbortedTxn]
    complete: bool
    """True when an entry's last stable offset reached the upper bound: later segments need not be searched."""


class TransactionIndex:
    def __init__(self, directory: Directory, name: str) -> None:
        self.directory = directory
        self.name = name
        self._storage: Storage | None = None
        self._entries: list[AbortedTxn] | None = None

    def __repr__(self) -> str:
        return f"TransactionIndex({self.name!r})"

    # -- loading

    def _file(self) -> Storage:
        if self._storage is None:
            self._storage = self.directory.open(self.name)
        return self._storage

    def _load(self) -> list[AbortedTxn]:
        if self._entries is not None:
            return self._entries
        entries: list[AbortedTxn] = []
        data = self.directory.read_bytes(self.name)  # no file kept open just to read
        if data:
            usable = len(data) - len(data) % ENTRY_SIZE
            last = -1
            for pos in range(0, usable, ENTRY_SIZE):
                version, pid, first, last_offset, lso = _ENTRY.unpack_from(data, pos)
                if version != VERSION or last_offset < first or last_offset <= last:
                    log.warning("%s: %s unreadable at byte %d; keeping %d entries", self.directory.name, self.name,
                                pos, len(entries))
                    usable = pos
                    break
                entries.append(AbortedTxn(pid, first, last_offset, lso))
                last = last_offset
            if usable != len(data):
                self._file().truncate(usable)  # a partial entry (crash mid-write) or garbage: drop it
        self._entries = entries
        return entries

    @property
    def entries(self) -> list[AbortedTxn]:
        return list(self._load())

    @property
    def last_offset(self) -> int:
        """Last offset of the newest entry, -1 when empty."""
        entries = self._load()
        return entries[-1].last_offset if entries else -1

    # -- changes

    def append(self, entry: AbortedTxn) -> None:
        entries = self._load()
        if entries and entry.last_offset <= entries[-1].last_offset:
            raise ValueError(
                f"{self.name}: aborted transaction ending at {entry.last_offset} is not after the last entry "
                f"ending at {entries[-1].last_offset}"
            )
        self._file().append(entry.encode())
        entries.append(entry)

    def truncate_to(self, offset: int) -> None:
        """Drop the entries of transactions whose marker is at or after offset."""
        entries = self._load()
        keep = len(entries)
        while keep and entries[keep - 1].last_offset >= offset:
            keep -= 1
        if keep != len(entries):
            del entries[keep:]
            self._file().truncate(keep * ENTRY_SIZE)

    def reset(self) -> None:
        """Empty the index (recovery rebuilds it from the segment)."""
        self._entries = []
        if self.directory.exists(self.name):
            self._file().truncate(0)

    # -- search

    def collect_aborted(self, fetch_offset: int, upper_bound: int) -> TxnIndexSearchResult:
        """Aborted transactions overlapping [fetch_offset, upper_bound)."""
        found = []
        for entry in self._load():
            if entry.last_offset >= fetch_offset and entry.first_offset < upper_bound:
                found.append(entry)
            if entry.last_stable_offset >= upper_bound:
                return TxnIndexSearchResult(found, True)
        return TxnIndexSearchResult(found, False)

    # -- lifecycle

    def flush(self) -> None:
        if self._storage is not None:
            self._storage.flush()

    def close(self) -> None:
        if self._storage is not None:
            self._storage.close()
            self._storage = None
        self._entries = None

    def delete(self) -> None:
        self.close()
        self.directory.delete(self.name)
