"""fsync off the event loop: one worker thread that makes rolled segments durable (Kafka's "flush-log" task) and
removes the directories of deleted partitions.

The event loop only submits work; the thread fsyncs files by path (an fsync through any descriptor of a file
flushes it, and a file deleted meanwhile needs no flushing) and then runs the log's completion, which moves the
recovery point. Nothing here knows about logs: jobs are plain callables.
"""
from __future__ import annotations

import logging
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable

log = logging.getLogger(__name__)

THREAD_NAME = "kbroker-flush"


def fsync_paths(paths: Iterable[Path]) -> None:
    """fsync each file that still exists; OSError for any other failure (the caller then claims nothing)."""
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            continue
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class BackgroundFlusher:
    """A single worker thread running flush jobs in submission order."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=THREAD_NAME)
        self._pending: set[Future] = set()
        self.jobs_run = 0

    def submit(self, job: Callable[[], None]) -> Future:
        future = self._executor.submit(self._run, job)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        return future

    def _run(self, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception:  # a job reports its own I/O errors; anything else must not kill the worker
            log.exception("background flush failed")
        self.jobs_run += 1

    def drain(self, timeout: float | None = None) -> None:
        """Wait until every job submitted so far has run (tests, shutdown)."""
        for future in list(self._pending):
            future.result(timeout)

    def close(self) -> None:
        """Wait for the job under way; drop the others. Called once every log is closed (a close flushes
        everything itself), so what is dropped is at most the removal of deleted directories, which the next
        start finishes."""
        self._executor.shutdown(wait=True, cancel_futures=True)
