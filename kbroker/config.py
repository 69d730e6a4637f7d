"""Broker configuration under Kafka's server.properties key names.

One table declares every key kbroker reads, its type and default, so the CLI, DescribeConfigs and the docs all
read the same facts. Keys kbroker does not know are kept (and reported once) so a real server.properties loads.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

log = logging.getLogger(__name__)


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


@dataclass(frozen=True)
class Key:
    name: str
    parse: Callable[[str], Any]
    default: Any
    doc: str


KEYS: dict[str, Key] = {
    k.name: k
    for k in [
        Key("node.id", int, 1, "The broker's node id (broker.id is accepted as an alias)."),
        Key("num.partitions", int, 1, "Partitions of an auto-created topic, or of CreateTopics asking for -1."),
        Key("default.replication.factor", int, 1, "Replication factor of auto-created topics."),
        Key("auto.create.topics.enable", _bool, True, "Metadata and Produce for an unknown topic create it."),
        Key("delete.topic.enable", _bool, True, "Whether DeleteTopics is allowed."),
        Key("log.dirs", str, "./kbroker-data", "Data directory (the first of a comma-separated list is used)."),
        Key("log.segment.bytes", int, 1073741824, "Segment size before a new segment is rolled."),
        Key("log.roll.ms", int, 7 * 24 * 3600 * 1000, "Segment age before a new segment is rolled."),
        Key("log.retention.ms", int, 7 * 24 * 3600 * 1000, "Time a closed segment is kept (-1: forever)."),
        Key("log.retention.bytes", int, -1, "Partition size beyond which old segments go (-1: no limit)."),
        Key("log.index.interval.bytes", int, 4096, "Bytes between two entries of the offset index."),
        Key("log.retention.check.interval.ms", int, 300000, "How often retention is enforced."),
        Key("log.message.timestamp.type", str, "CreateTime", "CreateTime or LogAppendTime."),
        Key("message.max.bytes", int, 1048588, "Largest record batch accepted."),
        Key("socket.request.max.bytes", int, 104857600, "Largest request frame accepted."),
        Key("fetch.max.bytes", int, 57671680, "Upper bound on the bytes of one Fetch response."),
        Key("min.insync.replicas", int, 1, "Replicas that must have a write for acks=all."),
        Key("compression.type", str, "producer", "Broker-side compression of stored batches."),
        Key("offsets.topic.num.partitions", int, 50, "Partitions of __consumer_offsets."),
        Key("offsets.retention.minutes", int, 10080, "How long committed offsets of an empty group are kept."),
        Key("group.initial.rebalance.delay.ms", int, 0, "Wait for more members before the first rebalance."),
        Key("group.min.session.timeout.ms", int, 6000, "Smallest session timeout a member may ask for."),
        Key("group.max.session.timeout.ms", int, 1800000, "Largest session timeout a member may ask for."),
        Key("transaction.max.timeout.ms", int, 900000, "Largest transaction timeout a producer may ask for."),
        Key("transactional.id.expiration.ms", int, 604800000, "Idle time after which a transactional id expires."),
        Key("producer.id.expiration.ms", int, 86400000, "Idle time after which producer state expires."),
        Key("broker.rack", str, "", "Rack of this broker, reported in Metadata."),
        Key("cluster.id", str, "", "Cluster id; generated and stored in the data directory when empty."),
    ]
}

ALIASES = {"broker.id": "node.id", "log.dir": "log.dirs"}
_DERIVED_MS = {"log.retention.hours": ("log.retention.ms", 3600000), "log.retention.minutes": ("log.retention.ms", 60000),
               "log.roll.hours": ("log.roll.ms", 3600000)}


class BrokerConfig:
    """Effective settings: defaults, then a properties file, then --set overrides."""

    def __init__(self, overrides: dict[str, str] | None = None) -> None:
        self.values: dict[str, Any] = {k.name: k.default for k in KEYS.values()}
        self.explicit: dict[str, str] = {}
        self.unknown: dict[str, str] = {}
        if overrides:
            self.update(overrides.items())

    def update(self, items: Iterable[tuple[str, str]]) -> None:
        for raw_key, text in items:
            key = ALIASES.get(raw_key, raw_key)
            if key in _DERIVED_MS:
                target, factor = _DERIVED_MS[key]
                if target not in self.explicit:
                    self.values[target] = int(text) * factor
                continue
            spec = KEYS.get(key)
            if spec is None:
                self.unknown[key] = text
                continue
            try:
                self.values[key] = spec.parse(text)
            except ValueError as exc:
                raise ValueError(f"bad value for {key}: {exc}") from exc
            self.explicit[key] = text

    def load_properties(self, path: Path) -> None:
        self.update(parse_properties(path.read_text()))
        if self.unknown:
            log.info("ignoring unknown keys from %s: %s", path, ", ".join(sorted(self.unknown)))

    def __getitem__(self, key: str) -> Any:
        return self.values[key]


def parse_properties(text: str) -> list[tuple[str, str]]:
    """Java .properties in the subset server.properties files use: key=value or key: value, # and ! comments."""
    items = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        for sep in ("=", ":"):
            if sep in line:
                key, value = line.split(sep, 1)
                items.append((key.strip(), value.strip()))
                break
    return items
