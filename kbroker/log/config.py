"""Per-log (per-topic) storage settings, named after Kafka's topic configs.

The broker shares one LogConfig between the logs of a topic and may change it at any time (AlterConfigs):
the Log reads every setting at the moment it needs it, so a change applies to the next append, roll or
retention pass without reopening anything.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

GIB = 1024 * 1024 * 1024
DAY_MS = 24 * 60 * 60 * 1000
INT32_MAX = 2**31 - 1
LONG_MAX = 2**63 - 1

# Kafka topic config key -> LogConfig field.
_KAFKA_KEYS = {
    "segment.bytes": "segment_bytes",
    "segment.ms": "segment_ms",
    "segment.index.bytes": "segment_index_bytes",
    "index.interval.bytes": "index_interval_bytes",
    "retention.ms": "retention_ms",
    "retention.bytes": "retention_bytes",
    "max.message.bytes": "max_message_bytes",
    "flush.messages": "flush_messages",
    "flush.ms": "flush_ms",
}


@dataclass(slots=True)
class LogConfig:
    segment_bytes: int = GIB
    """Roll a new segment before an append would take the active one past this size."""
    segment_ms: int = 7 * DAY_MS
    """Roll when the active segment's first append is older than this."""
    segment_index_bytes: int = 10 * 1024 * 1024
    """Size bound of each index file; a full index forces a roll (Kafka's segment.index.bytes)."""
    index_interval_bytes: int = 4096
    """Bytes of log between two sparse index entries: the longest scan after an index lookup."""
    retention_ms: int = 7 * DAY_MS
    """Delete closed segments whose newest timestamp is older than this; -1 keeps them forever."""
    retention_bytes: int = -1
    """Delete the oldest closed segments while the log would stay at least this big; -1 = no limit."""
    max_message_bytes: int = 1048588
    """Largest batch the caller accepts (checked by the produce handler, carried here with the topic)."""
    flush_on_roll: bool = True
    """fsync a segment when it stops being active, so recovery after a crash only rescans the newest one."""
    flush_messages: int = LONG_MAX
    """fsync within the append once this many messages are unflushed (Kafka's flush.messages; 1: every write)."""
    flush_ms: int = LONG_MAX
    """fsync (in the background) data left unflushed longer than this (Kafka's flush.ms)."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Refuse values the storage cannot honour (int32 positions inside a segment, 8/12-byte entries)."""
        if not 14 <= self.segment_bytes <= INT32_MAX:
            raise ValueError(f"segment_bytes {self.segment_bytes} outside [14, {INT32_MAX}]")
        if self.segment_ms < 1:
            raise ValueError("segment_ms must be positive")
        if self.segment_index_bytes < 12:
            raise ValueError("segment_index_bytes must hold at least one entry")
        if self.index_interval_bytes < 0:
            raise ValueError("index_interval_bytes must be >= 0")
        if self.retention_ms < -1 or self.retention_bytes < -1:
            raise ValueError("retention values must be >= -1")
        if self.max_message_bytes < 0:
            raise ValueError("max_message_bytes must be >= 0")
        if self.flush_messages < 1 or self.flush_ms < 0:
            raise ValueError("flush_messages must be >= 1 and flush_ms >= 0")

    def update(self, **changes: Any) -> None:
        """Change settings in place (all or nothing), seen at once by every log sharing this config."""
        trial = {f.name: getattr(self, f.name) for f in fields(self)}
        unknown = set(changes) - set(trial)
        if unknown:
            raise TypeError(f"unknown LogConfig fields {sorted(unknown)}")
        trial.update(changes)
        LogConfig(**trial)  # validates
        for name, value in changes.items():
            setattr(self, name, value)

    @classmethod
    def from_topic_config(cls, props: Mapping[str, str], base: LogConfig | None = None) -> LogConfig:
        """Build from Kafka topic config strings (`segment.bytes` …); keys that are not storage's are ignored."""
        values = {f.name: getattr(base or cls(), f.name) for f in fields(cls)}
        for key, name in _KAFKA_KEYS.items():
            if key in props and props[key] is not None:
                values[name] = int(props[key])
        return cls(**values)
