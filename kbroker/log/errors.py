"""Storage errors the handlers turn into Kafka error codes."""
from __future__ import annotations


class LogError(Exception):
    """Base of the errors this package raises on purpose."""


class OffsetOutOfRange(LogError):
    """An offset outside [log_start_offset, log_end_offset] (Kafka: OFFSET_OUT_OF_RANGE)."""

    def __init__(self, offset: int, log_start_offset: int, log_end_offset: int, what: str = "offset") -> None:
        super().__init__(f"{what} {offset} outside the log's [{log_start_offset}, {log_end_offset}]")
        self.offset = offset
        self.log_start_offset = log_start_offset
        self.log_end_offset = log_end_offset


class LogClosedError(LogError):
    """The log was closed or deleted (the partition moved or was removed while a request was in flight)."""


class LogWriteError(LogError):
    """The log could not write (disk full, I/O error); nothing of the append was kept (Kafka:
    KAFKA_STORAGE_ERROR, which clients retry). The log stays usable: the next append tries again."""
