"""Topic-level configs: every key Kafka 4.x has, its type, default, broker synonyms, validation and effect.

One table (`TOPIC_KEYS`) serves CreateTopics, DescribeConfigs, AlterConfigs and IncrementalAlterConfigs, and the
partition logs are configured from the effective values computed here (`log_config`). The effective value of a
key is the topic's own, else the broker's setting of its synonym (`log.retention.ms`, then `.minutes`, then
`.hours` — any layer, dynamic ones included), else Kafka's default. Errors carry Kafka's wording.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from kbroker.config import (SOURCE_DEFAULT, SOURCE_TOPIC, TYPE_IDS, BrokerConfig, normalize, parse_typed, render)
from kbroker.log import LogConfig
from wire.errors import ErrorCode, KafkaError

LONG_MAX = 9223372036854775807
COMPRESSION_TYPES = ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")

Validator = Callable[[Any], "str | None"]


def at_least(minimum: int | float) -> Validator:
    return lambda v: None if v >= minimum else f"Value must be at least {minimum}"


def between(low: int | float, high: int | float) -> Validator:
    def check(v: Any) -> str | None:
        if v < low:
            return f"Value must be at least {low}"
        if v > high:
            return f"Value must be no more than {high}"
        return None

    return check


def one_of(*options: str) -> Validator:
    return lambda v: None if v in options else f"String must be one of: {', '.join(options)}"


def list_of(*options: str) -> Validator:
    def check(values: list[str]) -> str | None:
        for v in values:
            if v not in options:
                return f"String must be one of: {', '.join(options)}"
        return None

    return check


def level(low: int, high: int, default: int | None = None) -> Validator:
    def check(v: int) -> str | None:
        if (default is not None and v == default) or low <= v <= high:
            return None
        extra = f"{default} or " if default is not None else ""
        return f"Value must be {extra}between {low} and {high}"

    return check


def replica_list(values: list[str]) -> str | None:
    if values == ["*"] or all(_replica_pair(v) for v in values):
        return None
    return "must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."


def _replica_pair(text: str) -> bool:
    left, sep, right = text.strip().partition(":")
    return bool(sep) and left.isdigit() and right.isdigit()


@dataclass(frozen=True)
class TopicKey:
    name: str
    type: str
    default: str
    synonyms: tuple[tuple[str, int], ...]  # broker settings it defaults from: (name, multiplier), in order
    validator: Validator | None
    doc: str

    @property
    def broker_key(self) -> str | None:
        return self.synonyms[0][0] if self.synonyms else None

    def parse(self, text: str) -> Any:
        """The typed value; ValueError with Kafka's message when text does not fit."""
        value = parse_typed(self.type, text)
        if self.validator is not None:
            problem = self.validator(value)
            if problem:
                raise ValueError(problem)
        return value


def _k(name: str, type_: str, default: str, synonyms: list[str] | list[tuple[str, int]] | None,
       validator: Validator | None, doc: str) -> TopicKey:
    pairs = tuple((s, 1) if isinstance(s, str) else s for s in (synonyms or ()))
    return TopicKey(name, type_, default, pairs, validator, doc)


TOPIC_KEYS: dict[str, TopicKey] = {
    k.name: k
    for k in sorted([
        _k("cleanup.policy", "LIST", "delete", ["log.cleanup.policy"], list_of("compact", "delete"),
           "delete: old segments go by retention.ms/retention.bytes; compact: the log cleaner keeps the latest "
           "record of each key; both: compacted, and old segments deleted too."),
        _k("compression.gzip.level", "INT", "-1", ["compression.gzip.level"], level(1, 9, -1),
           "Level the broker recompresses at when compression.type is gzip (-1: zlib's default, 6)."),
        _k("compression.lz4.level", "INT", "9", ["compression.lz4.level"], level(1, 17),
           "Level the broker recompresses at when compression.type is lz4 (1: the fast compressor; above: lz4 HC)."),
        _k("compression.type", "STRING", "producer", ["compression.type"], one_of(*COMPRESSION_TYPES),
           "Codec of stored batches: producer keeps what the producer sent; uncompressed, gzip, snappy, lz4 or "
           "zstd recompress every batch to that codec."),
        _k("compression.zstd.level", "INT", "3", ["compression.zstd.level"], between(-131072, 22),
           "Level the broker recompresses at when compression.type is zstd."),
        _k("delete.retention.ms", "LONG", "86400000", ["log.cleaner.delete.retention.ms"], at_least(0),
           "How long a tombstone (and the marker of an empty transaction) stays in a compacted log once the "
           "cleaner has seen it, so that consumers reading from the start see the delete."),
        _k("file.delete.delay.ms", "LONG", "60000", ["log.segment.delete.delay.ms"], at_least(0),
           "Accepted for compatibility; kbroker deletes segment files at once."),
        _k("flush.messages", "LONG", str(LONG_MAX), ["log.flush.interval.messages"], at_least(1),
           "fsync the partition once this many messages are unflushed, before the produce is answered (1: every "
           "write). By default only rolled segments (in the background) and shutdown are fsynced."),
        _k("flush.ms", "LONG", str(LONG_MAX), [("log.flush.interval.ms", 1), ("log.flush.scheduler.interval.ms", 1)],
           at_least(0), "fsync (in the background) data that has been unflushed this long."),
        _k("follower.replication.throttled.replicas", "LIST", "", None, replica_list,
           "Replicas throttled on the follower side; a single broker has no followers."),
        _k("index.interval.bytes", "INT", "4096", ["log.index.interval.bytes"], at_least(0),
           "Bytes of log between two entries of the offset index."),
        _k("leader.replication.throttled.replicas", "LIST", "", None, replica_list,
           "Replicas throttled on the leader side; a single broker has no followers."),
        _k("local.retention.bytes", "LONG", "-2", ["log.local.retention.bytes"], at_least(-2),
           "Tiered storage only; kbroker has none."),
        _k("local.retention.ms", "LONG", "-2", ["log.local.retention.ms"], at_least(-2),
           "Tiered storage only; kbroker has none."),
        _k("max.compaction.lag.ms", "LONG", str(LONG_MAX), ["log.cleaner.max.compaction.lag.ms"], at_least(1),
           "Longest time a record stays uncompacted: the cleaner cleans a log whose oldest dirty segment is older, "
           "whatever its dirty ratio."),
        _k("max.message.bytes", "INT", "1048588", ["message.max.bytes"], at_least(0),
           "Largest record batch (after compression) the topic accepts."),
        _k("message.downconversion.enable", "BOOLEAN", "true", ["log.message.downconversion.enable"], None,
           "Deprecated in Kafka 4 and without effect."),
        _k("message.timestamp.after.max.ms", "LONG", "3600000", ["log.message.timestamp.after.max.ms"], at_least(0),
           "How far ahead of the broker's clock a CreateTime timestamp may be."),
        _k("message.timestamp.before.max.ms", "LONG", str(LONG_MAX), ["log.message.timestamp.before.max.ms"],
           at_least(0), "How far behind the broker's clock a CreateTime timestamp may be."),
        _k("message.timestamp.type", "STRING", "CreateTime", ["log.message.timestamp.type"],
           one_of("CreateTime", "LogAppendTime"),
           "CreateTime keeps the producer's timestamps; LogAppendTime stamps each batch with the append time."),
        _k("min.cleanable.dirty.ratio", "DOUBLE", "0.5", ["log.cleaner.min.cleanable.ratio"], between(0, 1),
           "Share of a compacted log that must be uncleaned before the cleaner cleans it."),
        _k("min.compaction.lag.ms", "LONG", "0", ["log.cleaner.min.compaction.lag.ms"], at_least(0),
           "Shortest time a record stays uncompacted."),
        _k("min.insync.replicas", "INT", "1", ["min.insync.replicas"], at_least(1),
           "Replicas that must have a write for acks=all; not enforced yet (docs/known-differences.md)."),
        _k("preallocate", "BOOLEAN", "false", ["log.preallocate"], None, "Accepted for compatibility; no effect."),
        _k("remote.log.copy.disable", "BOOLEAN", "false", None, None, "Tiered storage only; kbroker has none."),
        _k("remote.log.delete.on.disable", "BOOLEAN", "false", None, None, "Tiered storage only; kbroker has none."),
        _k("remote.storage.enable", "BOOLEAN", "false", None, None, "Tiered storage only; kbroker has none."),
        _k("retention.bytes", "LONG", "-1", ["log.retention.bytes"], None,
           "Partition size beyond which the oldest segments are deleted (-1: no limit); delete policy only."),
        _k("retention.ms", "LONG", "604800000",
           [("log.retention.ms", 1), ("log.retention.minutes", 60000), ("log.retention.hours", 3600000)],
           at_least(-1), "How long a segment is kept after its newest record (-1: forever); delete policy only."),
        _k("segment.bytes", "INT", "1073741824", ["log.segment.bytes"], at_least(14),
           "Segment size before a new segment is rolled."),
        _k("segment.index.bytes", "INT", "10485760", ["log.index.size.max.bytes"], at_least(4),
           "Size bound of each index file; a full index rolls the segment."),
        _k("segment.jitter.ms", "LONG", "0", [("log.roll.jitter.ms", 1), ("log.roll.jitter.hours", 3600000)],
           at_least(0), "Accepted for compatibility; kbroker rolls without jitter."),
        _k("segment.ms", "LONG", "604800000", [("log.roll.ms", 1), ("log.roll.hours", 3600000)], at_least(1),
           "Age of the active segment (since its first append) after which the next append rolls a new one."),
        _k("unclean.leader.election.enable", "BOOLEAN", "false", ["unclean.leader.election.enable"], None,
           "A single broker is always the clean leader."),
    ], key=lambda k: k.name)
}


def invalid(name: str, value: str, problem: str) -> KafkaError:
    return KafkaError(ErrorCode.INVALID_CONFIG, f"Invalid value {value} for configuration {name}: {problem}")


def validate_topic_configs(configs: dict[str, str | None], broker: BrokerConfig | None = None) -> dict[str, str]:
    """The configs as they will be stored; INVALID_CONFIG for an unknown key, a null or a bad value, or values
    that contradict each other (Kafka's LogConfig.validate)."""
    out: dict[str, str] = {}
    for name in configs:
        if name not in TOPIC_KEYS:
            raise KafkaError(ErrorCode.INVALID_CONFIG, f"Unknown topic config name: {name}")
    nulls = [name for name, value in configs.items() if value is None]
    if nulls:
        raise KafkaError(ErrorCode.INVALID_CONFIG, f"Null value not supported for topic configs: {','.join(nulls)}")
    for name, value in configs.items():
        assert value is not None
        try:
            TOPIC_KEYS[name].parse(value)
        except ValueError as exc:
            raise invalid(name, value.strip(), str(exc)) from exc
        out[name] = value
    lag_min = int(effective("min.compaction.lag.ms", out, broker))
    lag_max = int(effective("max.compaction.lag.ms", out, broker))
    if lag_min > lag_max:
        raise KafkaError(ErrorCode.INVALID_CONFIG, f"conflict topic config setting min.compaction.lag.ms ({lag_min}) "
                                                   f"> max.compaction.lag.ms ({lag_max})")
    if effective("remote.storage.enable", out, broker) == "true":
        raise KafkaError(ErrorCode.INVALID_CONFIG, "Tiered Storage functionality is disabled in the broker. "
                                                   "Topic cannot be configured with remote log storage.")
    return out


def broker_default(name: str, broker: BrokerConfig | None) -> tuple[str, int] | None:
    """(value, source) the broker gives a topic key that the topic does not set itself."""
    spec = TOPIC_KEYS[name]
    if broker is None or not spec.synonyms:
        return None
    value = broker.resolve(list(spec.synonyms))
    return None if value is None else (value, SOURCE_DEFAULT)


def effective(name: str, topic_configs: dict[str, str], broker: BrokerConfig | None) -> str:
    """The value in force for one topic key (normalized as Kafka renders it): the topic's own, else the
    broker's, else Kafka's default."""
    spec = TOPIC_KEYS[name]
    if name in topic_configs:
        return normalize(spec.type, topic_configs[name]) or ""
    found = broker_default(name, broker)
    if found is not None:
        return normalize(spec.type, found[0]) or ""
    return spec.default


def value_of(name: str, topic_configs: dict[str, str], broker: BrokerConfig | None) -> Any:
    """The typed effective value (int, float, bool, list or str)."""
    spec = TOPIC_KEYS[name]
    try:
        return spec.parse(effective(name, topic_configs, broker))
    except ValueError:
        return parse_typed(spec.type, spec.default)


def cleanup_policy(topic_configs: dict[str, str], broker: BrokerConfig | None) -> tuple[bool, bool]:
    """(delete, compact) of the topic's cleanup.policy."""
    policy = [p.lower() for p in value_of("cleanup.policy", topic_configs, broker)]
    return "delete" in policy, "compact" in policy


def log_config(topic_configs: dict[str, str], broker: BrokerConfig | None) -> LogConfig:
    """What the partition logs of a topic honour. A topic that is compacted only has no retention by time or
    size: only the cleaner removes its records."""
    def get(key: str) -> int:
        return int(value_of(key, topic_configs, broker))

    delete, _ = cleanup_policy(topic_configs, broker)
    return LogConfig(
        segment_bytes=get("segment.bytes"),
        segment_ms=get("segment.ms"),
        segment_index_bytes=max(get("segment.index.bytes"), 12),
        index_interval_bytes=get("index.interval.bytes"),
        retention_ms=get("retention.ms") if delete else -1,
        retention_bytes=max(get("retention.bytes"), -1) if delete else -1,  # any negative: no limit
        max_message_bytes=get("max.message.bytes"),
        flush_messages=get("flush.messages"),
        flush_ms=get("flush.ms"),
    )


def describe_topic(topic_configs: dict[str, str], broker: BrokerConfig | None, *, include_synonyms: bool,
                   include_docs: bool, names: list[str] | None = None) -> list[dict]:
    """DescribeConfigs entries for a topic (Kafka's ConfigHelper.createTopicConfigEntry)."""
    out = []
    for name, spec in TOPIC_KEYS.items():
        if names and name not in names:
            continue
        synonyms: list[dict] = []
        if name in topic_configs:
            synonyms.append({"name": name, "value": normalize(spec.type, topic_configs[name]), "source": SOURCE_TOPIC})
        if broker is not None and spec.synonyms:
            synonyms.extend(broker.synonyms(spec.synonyms[0][0]))
        out.append({
            "name": name,
            "value": effective(name, topic_configs, broker),
            "read_only": False,
            "config_source": synonyms[0]["source"] if synonyms else SOURCE_DEFAULT,
            "is_sensitive": False,
            "synonyms": synonyms if include_synonyms else [],
            "config_type": TYPE_IDS[spec.type],
            "documentation": spec.doc if include_docs else None,
        })
    return out


# IncrementalAlterConfigs operations
OP_SET, OP_DELETE, OP_APPEND, OP_SUBTRACT = 0, 1, 2, 3


def apply_incremental(current: dict[str, str], ops: list[tuple[str, int, str | None]],
                      type_of: Callable[[str], str | None], default_of: Callable[[str], str | None]) -> dict[str, str]:
    """The configs after SET / DELETE / APPEND / SUBTRACT (Kafka's ConfigurationControlManager). APPEND and
    SUBTRACT start from the default when the key is unset and work on LIST keys only."""
    out = dict(current)
    for name, op, value in ops:
        if op == OP_SET:
            out[name] = value  # type: ignore[assignment]
        elif op == OP_DELETE:
            out.pop(name, None)
        elif op in (OP_APPEND, OP_SUBTRACT):
            if type_of(name) != "LIST":
                verb = "APPEND" if op == OP_APPEND else "SUBTRACT"
                raise KafkaError(ErrorCode.INVALID_CONFIG, f"Can't {verb} to key {name} because its type is not LIST.")
            base = out.get(name)
            if base is None:
                base = default_of(name)
            parts = [p for p in (base or "").split(",") if p]
            for item in (value or "").split(","):
                if op == OP_APPEND and item not in parts:
                    parts.append(item)
                elif op == OP_SUBTRACT and item in parts:
                    parts.remove(item)
            out[name] = ",".join(parts)
        else:
            raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unknown operations type {op}")
    return out


def topic_type(name: str) -> str | None:
    spec = TOPIC_KEYS.get(name)
    return spec.type if spec else None


def topic_default(name: str) -> str | None:
    spec = TOPIC_KEYS.get(name)
    return spec.default if spec else None


__all__ = ["TOPIC_KEYS", "TopicKey", "apply_incremental", "cleanup_policy", "describe_topic", "effective",
           "log_config", "render", "validate_topic_configs", "value_of"]
