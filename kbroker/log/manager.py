"""All partition logs of one data directory (Kafka's LogManager, one log dir).

Layout: `<data_dir>/<topic>-<partition>/`. Topic names may contain '-' and '.', so the partition is what
follows the last '-'. A deleted partition's directory is first renamed to `<topic>-<partition>.<uuid>-delete`
(one atomic step: after it the partition is gone even if removing the files is interrupted), then removed on
the flusher's thread, off the event loop; leftovers of that kind are removed (in the background) at start-up. `.lock` keeps a second broker off the same directory.
"""
from __future__ import annotations

import fcntl
import functools
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Callable, Iterator

from .config import LONG_MAX, LogConfig
from .flusher import BackgroundFlusher
from .log import Log
from .storage import DELETE_SUFFIX, MemoryDirectory

log = logging.getLogger(__name__)

LOCK_FILE = ".lock"
_DIR_NAME = re.compile(r"^(?P<topic>.+)-(?P<partition>\d+)$")

TopicPartition = tuple[str, int]


def partition_dir_name(topic: str, partition: int) -> str:
    if not topic or topic in (".", "..") or "/" in topic or "\\" in topic or "\0" in topic:
        raise ValueError(f"topic name {topic!r} cannot name a directory")
    if partition < 0:
        raise ValueError(f"negative partition {partition}")
    return f"{topic}-{partition}"


def parse_partition_dir_name(name: str) -> TopicPartition | None:
    """(topic, partition) of a partition directory name; None for anything else (including `-delete`)."""
    if name.endswith(DELETE_SUFFIX):
        return None
    match = _DIR_NAME.match(name)
    if match is None:
        return None
    return match["topic"], int(match["partition"])


class LogManager:
    def __init__(self, data_dir: Path | str | None, default_config: LogConfig | None = None, *, in_memory: bool = False) -> None:
        if data_dir is None and not in_memory:
            raise ValueError("a data directory is needed unless in_memory")
        self.data_dir = None if in_memory or data_dir is None else Path(data_dir)
        self.in_memory = in_memory
        self.default_config = default_config or LogConfig()
        self._logs: dict[TopicPartition, Log] = {}
        self._flush_failed: set[TopicPartition] = set()  # logs whose flush check failed (logged once each)
        self._lock_fd: int | None = None
        self.flusher: BackgroundFlusher | None = None
        """fsyncs rolled segments off the event loop (on disk only)."""
        if self.data_dir is not None:
            self.flusher = BackgroundFlusher()
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._lock()

    def _lock(self) -> None:
        assert self.data_dir is not None
        fd = os.open(self.data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise RuntimeError(f"data directory {self.data_dir} is in use by another process") from None
        self._lock_fd = fd

    def __len__(self) -> int:
        return len(self._logs)

    def __iter__(self) -> Iterator[tuple[TopicPartition, Log]]:
        return iter(list(self._logs.items()))

    @property
    def logs(self) -> dict[TopicPartition, Log]:
        return dict(self._logs)

    def load_all(self, config_for: Callable[[str], LogConfig] | None = None) -> dict[TopicPartition, Log]:
        """Open every partition directory (recovering after a crash) and remove `-delete` leftovers.
        config_for(topic) gives each topic's config; the default config otherwise."""
        if self.data_dir is None:
            return dict(self._logs)
        for entry in sorted(os.scandir(self.data_dir), key=lambda e: e.name):
            if not entry.is_dir():
                continue
            if entry.name.endswith(DELETE_SUFFIX):  # a deletion the last run did not finish: finish it
                log.info("removing partially deleted %s", entry.name)
                if self.flusher is not None:
                    self.flusher.submit(functools.partial(shutil.rmtree, entry.path, ignore_errors=True))
                else:
                    shutil.rmtree(entry.path, ignore_errors=True)
                continue
            parsed = parse_partition_dir_name(entry.name)
            if parsed is None:
                log.warning("ignoring %s in %s: not a <topic>-<partition> directory", entry.name, self.data_dir)
                continue
            if parsed in self._logs:
                continue
            config = config_for(parsed[0]) if config_for is not None else self.default_config
            opened = Log.open(Path(entry.path), config, flusher=self.flusher)
            if not opened.had_clean_shutdown:
                log.warning(
                    "recovered %s-%d after an unclean shutdown (%d bytes cut); log end offset %d",
                    parsed[0], parsed[1], opened.recovered_bytes, opened.log_end_offset,
                )
            self._logs[parsed] = opened
        return dict(self._logs)

    def get(self, topic: str, partition: int) -> Log | None:
        return self._logs.get((topic, partition))

    def create(self, topic: str, partition: int, config: LogConfig | None = None) -> Log:
        """The partition's log, created empty if it does not exist yet (an existing log is returned as is)."""
        key = (topic, partition)
        existing = self._logs.get(key)
        if existing is not None:
            return existing
        name = partition_dir_name(topic, partition)
        config = config or self.default_config
        if self.data_dir is None:
            created = Log.open(MemoryDirectory(name), config)
        else:
            created = Log.open(self.data_dir / name, config, flusher=self.flusher)
        self._logs[key] = created
        return created

    def delete(self, topic: str, partition: int) -> bool:
        """Remove the partition's log and its files; False when there was none."""
        removed = self._logs.pop((topic, partition), None)
        if removed is None:
            return False
        removed.delete()  # on disk: rename to <topic>-<partition>.<uuid>-delete, then remove
        return True

    def flush_all(self) -> None:
        for _, each in self:
            each.flush()

    def flush_due(self, now_ms: int) -> int:
        """flush.ms / log.flush.interval.ms: start background flushes of the logs whose unflushed data is older
        than their setting; returns how many were started."""
        started = 0
        for key, each in self:
            if each.config.flush_ms >= LONG_MAX and each.config.flush_messages >= LONG_MAX:
                continue
            try:
                started += each.flush_if_due(now_ms)
            except Exception:  # one broken log must not keep the others unflushed; checked every few ms, it
                if key not in self._flush_failed:  # says so once per log
                    log.exception("flush check failed for %s-%d", key[0], key[1])
                self._flush_failed.add(key)
        return started

    def enforce_retention(self, now_ms: int) -> int:
        """One retention pass over every log; returns the number of segments deleted."""
        return sum(each.enforce_retention(now_ms) for _, each in self)

    def close_all(self) -> None:
        """Close every log cleanly (so the next start skips recovery) and release the directory lock."""
        for key, each in self:
            try:
                each.close()
            except OSError:
                log.exception("closing log %s-%d", *key)
        self._logs.clear()
        if self.flusher is not None:
            self.flusher.close()  # waits for flushes under way: no thread touches the directory after the lock
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
