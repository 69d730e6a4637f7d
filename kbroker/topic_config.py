"""Topic-level configs: names, the broker key each defaults from, and validation.

CreateTopics (and later AlterConfigs/DescribeConfigs) go through this table, and the partition logs are
configured from the effective values it computes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from kbroker.config import BrokerConfig
from kbroker.log import LogConfig
from wire.errors import ErrorCode, KafkaError


def _int(text: str) -> int:
    return int(text)


def _choice(*options: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return text

    return parse


def _policy(text: str) -> str:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or any(p not in ("delete", "compact") for p in parts):
        raise ValueError("must be a list of delete and compact")
    return ",".join(parts)


def _bool(text: str) -> str:
    if text.lower() not in ("true", "false"):
        raise ValueError("must be true or false")
    return text.lower()


@dataclass(frozen=True)
class TopicKey:
    name: str
    parse: Callable[[str], Any]
    broker_key: str | None  # the broker setting it defaults from
    default: str  # used when there is no broker key


TOPIC_KEYS: dict[str, TopicKey] = {
    k.name: k
    for k in [
        TopicKey("cleanup.policy", _policy, None, "delete"),
        TopicKey("compression.type", _choice("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"),
                 "compression.type", "producer"),
        TopicKey("delete.retention.ms", _int, None, "86400000"),
        TopicKey("file.delete.delay.ms", _int, None, "60000"),
        TopicKey("flush.messages", _int, None, "9223372036854775807"),
        TopicKey("flush.ms", _int, None, "9223372036854775807"),
        TopicKey("index.interval.bytes", _int, "log.index.interval.bytes", "4096"),
        TopicKey("max.compaction.lag.ms", _int, None, "9223372036854775807"),
        TopicKey("max.message.bytes", _int, "message.max.bytes", "1048588"),
        TopicKey("message.timestamp.type", _choice("CreateTime", "LogAppendTime"), "log.message.timestamp.type",
                 "CreateTime"),
        TopicKey("message.timestamp.before.max.ms", _int, None, "9223372036854775807"),
        TopicKey("message.timestamp.after.max.ms", _int, None, "3600000"),
        TopicKey("min.cleanable.dirty.ratio", float, None, "0.5"),
        TopicKey("min.compaction.lag.ms", _int, None, "0"),
        TopicKey("min.insync.replicas", _int, "min.insync.replicas", "1"),
        TopicKey("preallocate", _bool, None, "false"),
        TopicKey("retention.bytes", _int, "log.retention.bytes", "-1"),
        TopicKey("retention.ms", _int, "log.retention.ms", "604800000"),
        TopicKey("segment.bytes", _int, "log.segment.bytes", "1073741824"),
        TopicKey("segment.index.bytes", _int, None, "10485760"),
        TopicKey("segment.jitter.ms", _int, None, "0"),
        TopicKey("segment.ms", _int, "log.roll.ms", "604800000"),
        TopicKey("unclean.leader.election.enable", _bool, None, "false"),
    ]
}


def validate_topic_configs(configs: dict[str, str | None]) -> dict[str, str]:
    """The configs as they will be stored; INVALID_CONFIG for an unknown key or a bad value."""
    out: dict[str, str] = {}
    for name, value in configs.items():
        spec = TOPIC_KEYS.get(name)
        if spec is None:
            raise KafkaError(ErrorCode.INVALID_CONFIG, f"Unknown topic config name: {name}")
        if value is None:
            raise KafkaError(ErrorCode.INVALID_CONFIG, f"Null value not supported for topic configs: {name}")
        try:
            spec.parse(value)
        except ValueError as exc:
            raise KafkaError(ErrorCode.INVALID_CONFIG, f"Invalid value {value} for configuration {name}: {exc}") from exc
        out[name] = value
    if "segment.bytes" in out and int(out["segment.bytes"]) < 14:
        raise KafkaError(ErrorCode.INVALID_CONFIG, "Invalid value for configuration segment.bytes: at least 14 needed")
    return out


def effective(name: str, topic_configs: dict[str, str], broker: BrokerConfig) -> str:
    """The value in force for one topic key: the topic's own, else the broker's, else Kafka's default."""
    if name in topic_configs:
        return topic_configs[name]
    spec = TOPIC_KEYS[name]
    if spec.broker_key is not None and spec.broker_key in broker.values:
        return str(broker[spec.broker_key])
    return spec.default


def log_config(topic_configs: dict[str, str], broker: BrokerConfig) -> LogConfig:
    def get(key: str) -> int:
        return int(effective(key, topic_configs, broker))

    return LogConfig(
        segment_bytes=get("segment.bytes"),
        segment_ms=get("segment.ms"),
        index_interval_bytes=get("index.interval.bytes"),
        retention_ms=get("retention.ms"),
        retention_bytes=get("retention.bytes"),
        max_message_bytes=get("max.message.bytes"),
    )
