"""The recovery point of one log: the offset below which everything is on disk, and the one place that moves it.

Recovery after a crash rescans the log from here, so it must never claim more than is fsynced. It moves up after
a flush, at once when the log flushes on the caller's thread, or on the flusher's thread (kbroker.log.flusher)
only once that thread has fsynced the files; it moves down when the log is truncated below it, and then no flush
submitted before the truncation may move it again. It is persisted in the recovery-point checkpoint each time it
moves. A lock guards it against the flush thread, never held across an fsync (the event loop takes it to
truncate); everything else about the log stays on the event loop.

A failed background fsync is final for this process: after fsync reports an error the kernel may already have
dropped the dirty pages, so a later fsync that succeeds proves nothing about them. The point never moves again
and the log refuses appends (Kafka takes the log directory offline); the next start recovers from the last point
persisted before the failure.
"""
from __future__ import annotations

import errno
import logging
import threading
import time
from pathlib import Path
from typing import Callable

from .checkpoint import OffsetCheckpoint
from .flusher import BackgroundFlusher, fsync_paths

log = logging.getLogger(__name__)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class RecoveryPoint:
    def __init__(self, name: str, offset: int, checkpoint: OffsetCheckpoint,
                 flusher: BackgroundFlusher | None) -> None:
        self.name = name
        self._offset = offset
        self._persisted = offset
        self._checkpoint = checkpoint
        self.flusher = flusher
        self._lock = threading.Lock()
        """Guards the point's fields; never held across I/O."""
        self._write_lock = threading.Lock()
        """Held by whoever writes the checkpoint file (the flush thread, or the caller of reset/flush_now/close)."""
        self._generation = 0
        """Bumped by a truncation or a failed background flush: older flush jobs may no longer move the point."""
        self._scheduled = offset
        """Offset up to which background flushes are submitted (they run in order on one thread)."""
        self.last_flush_ms = now_ms()
        self._closed = False
        self.failed: str | None = None
        """Why a background fsync failed, once one has: the point is frozen for the rest of the process."""

    @property
    def offset(self) -> int:
        return self._offset

    @property
    def scheduled(self) -> int:
        """Where the next background flush starts: what earlier ones do not already cover."""
        return max(self._offset, self._scheduled)

    def flush_now(self, target: int, fsync_from: Callable[[int], None]) -> None:
        """Flush on this thread: fsync_from(recovery point) fsyncs everything from there below target; then the
        point moves to target (unless a truncation came meanwhile)."""
        with self._lock:
            if target <= self._offset:
                return
            if self.failed is not None:
                raise OSError(errno.EIO, f"an earlier fsync failed ({self.failed}); nothing written since is trusted")
            start, generation = self._offset, self._generation
        fsync_from(start)
        with self._lock:
            if generation != self._generation or target <= self._offset:
                return
            self._offset = target
            self.last_flush_ms = now_ms()
        self._persist_latest()

    def flush_later(self, target: int, paths: list[Path], directory: Path) -> None:
        """Have the flusher fsync paths (and the directory), then move the point to target, unless the log was
        truncated or closed meanwhile, or an earlier job failed."""
        assert self.flusher is not None
        if self.failed is not None:
            return
        self._scheduled = target
        generation = self._generation

        def job() -> None:
            if self._closed:
                return
            try:
                fsync_paths(paths)
                fsync_paths([directory])  # new files' directory entries
            except OSError as exc:
                self.fail(target, exc)
                return
            self.advance(target, generation)

        self.flusher.submit(job)

    @property
    def generation(self) -> int:
        """Pass to advance() after fsyncing off the lock: a truncation meanwhile makes that flush move nothing."""
        return self._generation

    def advance(self, target: int, generation: int) -> None:
        """Files below target were fsynced (on another thread): move the point there, unless the log was
        truncated or closed meanwhile, or an fsync failed."""
        with self._lock:
            if self._closed or self.failed is not None or generation != self._generation or target <= self._offset:
                return
            self._offset = target
            self.last_flush_ms = now_ms()
        try:
            self._persist_latest()
        except OSError as exc:  # the directory went away (topic deleted) or the disk failed
            log.debug("%s: recovery point checkpoint not written: %s", self.name, exc)

    def fail(self, target: int, exc: OSError) -> None:
        """An fsync failed: the point is frozen for the rest of the process (see the module docstring)."""
        log.error("%s: flush to offset %d failed: %s; the log takes no more appends and its recovery point stays "
                  "at %d until restart", self.name, target, exc, self._offset)
        with self._lock:  # no later job may move the point: the failed pages may never reach the disk
            self.failed = f"{type(exc).__name__}: {exc}"
            self._generation += 1
            self._scheduled = self._offset

    def cut(self, offset: int) -> None:
        """The log was truncated to end at offset."""
        with self._lock:
            self._generation += 1
            self._offset = min(self._offset, offset)
            self._scheduled = self._offset

    def reset(self, offset: int) -> None:
        """The log starts afresh, empty at offset: the point is there, persisted at once."""
        with self._lock:
            self._generation += 1
            self._offset = self._scheduled = offset
        self._persist_latest()

    def persist_if_lowered(self) -> None:
        """Write a point a truncation lowered (close: the next start must not trust the old one)."""
        self._persist_latest()

    def close(self) -> None:
        """No flush job may touch this log's files any more."""
        with self._lock:
            self._closed = True

    def _persist_latest(self) -> None:
        """Write the point to its checkpoint without holding the lock: the write fsyncs, and the event loop takes
        the lock to truncate. Writers take turns; each writes again if the point moved while it wrote, so the file
        ends with the latest point."""
        with self._write_lock:
            while True:
                with self._lock:
                    offset = self._offset
                    if offset == self._persisted:
                        return
                self._checkpoint.write(offset)
                with self._lock:
                    self._persisted = offset
