"""Leader epoch -> start offset of that epoch in this log (Kafka's LeaderEpochFileCache).

A follower, or a consumer that detected a leader change, asks "where did epoch E end?" (OffsetForLeaderEpoch)
to find where its copy diverges; the answer comes from this small map, persisted in `leader-epoch-checkpoint`
beside the segments and kept in step with the log: cut at the end when the log is truncated, at the start when
the log start offset advances. Entries are strictly increasing in both epoch and start offset.
"""
from __future__ import annotations

import logging
from bisect import bisect_right
from typing import NamedTuple

from .checkpoint import CheckpointError, CheckpointFile
from .storage import Directory

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "leader-epoch-checkpoint"
UNDEFINED_EPOCH = -1
UNDEFINED_EPOCH_OFFSET = -1


class EpochEntry(NamedTuple):
    epoch: int
    start_offset: int


class LeaderEpochFileCache:
    def __init__(self, directory: Directory | None) -> None:
        """Load from the directory's checkpoint (None: a cache that persists nothing)."""
        self._checkpoint = None if directory is None else CheckpointFile(directory, CHECKPOINT_NAME, 2)
        self._entries: list[EpochEntry] = []
        if self._checkpoint is not None:
            try:
                loaded = self._checkpoint.read() or []
            except CheckpointError as exc:
                log.warning("%s: ignoring unreadable %s: %s", directory.name, CHECKPOINT_NAME, exc)
                loaded = []
            for epoch, start_offset in loaded:
                self._add(EpochEntry(epoch, start_offset))

    @property
    def entries(self) -> list[EpochEntry]:
        return list(self._entries)

    @property
    def latest_epoch(self) -> int | None:
        return self._entries[-1].epoch if self._entries else None

    @property
    def latest_entry(self) -> EpochEntry | None:
        return self._entries[-1] if self._entries else None

    @property
    def earliest_entry(self) -> EpochEntry | None:
        return self._entries[0] if self._entries else None

    def assign(self, epoch: int, start_offset: int) -> None:
        """Record that epoch starts at start_offset. A no-op when it is already the latest epoch at that
        offset or earlier; entries it contradicts (same or later epoch, same or later offset) are dropped."""
        if epoch < 0 or start_offset < 0:
            raise ValueError(f"epoch {epoch} / start offset {start_offset} must be >= 0")
        latest = self.latest_entry
        if latest is not None and latest.epoch == epoch and latest.start_offset <= start_offset:
            return
        self._add(EpochEntry(epoch, start_offset))
        self._flush()

    def _add(self, entry: EpochEntry) -> None:
        removed = []
        while self._entries and (
            self._entries[-1].epoch >= entry.epoch or self._entries[-1].start_offset >= entry.start_offset
        ):
            removed.append(self._entries.pop())
        if len(removed) > 1 or (removed and removed[0].start_offset != entry.start_offset):
            log.warning("leader epoch %s replaces non-monotonic entries %s", entry, removed)
        self._entries.append(entry)

    def epoch_for_offset(self, offset: int) -> int | None:
        """The epoch the record at offset was written in, as far as the cache knows."""
        i = bisect_right(self._entries, offset, key=lambda e: e.start_offset) - 1
        return self._entries[i].epoch if i >= 0 else None

    def end_offset_for(self, requested_epoch: int, log_end_offset: int) -> tuple[int, int]:
        """(epoch, end offset) for OffsetForLeaderEpoch: the end offset of requested_epoch is the start offset
        of the first later epoch (the log end for the latest epoch). For an epoch the cache does not hold, the
        answer is the largest known epoch below it with the end of that epoch; (-1, -1) when nothing fits."""
        if requested_epoch == UNDEFINED_EPOCH or not self._entries:
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if requested_epoch == self._entries[-1].epoch:
            return requested_epoch, log_end_offset
        i = bisect_right(self._entries, requested_epoch, key=lambda e: e.epoch)  # first entry with a higher epoch
        if i == len(self._entries):
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        higher = self._entries[i]
        if i == 0:
            # Older than anything known: the requested epoch ends where the first known one starts.
            return requested_epoch, higher.start_offset
        return self._entries[i - 1].epoch, higher.start_offset

    def truncate_from_end(self, end_offset: int) -> None:
        """The log was truncated to end_offset: forget epochs that start at or after it."""
        if end_offset < 0 or not self._entries or self._entries[-1].start_offset < end_offset:
            return
        while self._entries and self._entries[-1].start_offset >= end_offset:
            self._entries.pop()
        self._flush()

    def truncate_from_start(self, start_offset: int) -> None:
        """The log start moved to start_offset: drop epochs that ended before it and start the epoch in force
        there at start_offset."""
        i = bisect_right(self._entries, start_offset, key=lambda e: e.start_offset)
        if i == 0:
            return
        in_force = self._entries[i - 1]
        if i == 1 and in_force.start_offset == start_offset:
            return
        self._entries[:i] = [EpochEntry(in_force.epoch, start_offset)]
        self._flush()

    def clear(self) -> None:
        if self._entries:
            self._entries.clear()
            self._flush()

    def _flush(self) -> None:
        if self._checkpoint is not None:
            self._checkpoint.write(self._entries)
