"""Partition log storage: Log (one partition) → LogSegments → LogSegment → OffsetIndex / TimeIndex, with the
LogLoader for start-up recovery, the LeaderEpochFileCache and checkpoints beside each log, and the LogManager
over a data directory. On disk or in memory behind the same code (storage.Directory)."""
from __future__ import annotations

from .config import LogConfig
from .epoch_cache import EpochEntry, LeaderEpochFileCache
from .errors import LogClosedError, LogError, LogWriteError, OffsetOutOfRange
from .log import AppendInfo, Log, ReadInfo
from .manager import LogManager

__all__ = [
    "AppendInfo",
    "EpochEntry",
    "LeaderEpochFileCache",
    "Log",
    "LogClosedError",
    "LogConfig",
    "LogError",
    "LogManager",
    "LogWriteError",
    "OffsetOutOfRange",
    "ReadInfo",
]
