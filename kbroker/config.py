"""Broker configuration under Kafka's server.properties key names.

Two tables: `KEYS`, the keys kbroker itself reads (with the parsed type and default kbroker uses), and
`KAFKA_KEYS`, every broker key of Apache Kafka 4.x (kbroker.config_keys) with Kafka's type, default and dynamic
update mode, so that DescribeConfigs lists what Kafka lists and AlterConfigs accepts what Kafka accepts.

Values come in Kafka's layers, highest first: dynamic per-broker configs (AlterConfigs on resource "<node id>"),
dynamic cluster-wide defaults (resource ""), static configs (a properties file, then --set), then defaults. Some
settings have synonyms read in order (`log.retention.ms`, then `.minutes`, then `.hours`). A change to a dynamic
layer recomputes every value at once; whoever depends on them (the topics' log configs) is told by the broker.
Keys nobody knows are kept (and reported once) so that a real server.properties loads.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from kbroker.config_effect import no_effect_reason
from kbroker.config_keys import KAFKA_BROKER_KEYS

log = logging.getLogger(__name__)

# DescribeConfigs config sources and types (Kafka's DescribeConfigsResponse.ConfigSource / ConfigType ids)
SOURCE_UNKNOWN = 0
SOURCE_TOPIC = 1
SOURCE_DYNAMIC_BROKER = 2
SOURCE_DYNAMIC_DEFAULT_BROKER = 3
SOURCE_STATIC_BROKER = 4
SOURCE_DEFAULT = 5
SOURCE_DYNAMIC_BROKER_LOGGER = 6
TYPE_IDS = {"BOOLEAN": 1, "STRING": 2, "INT": 3, "SHORT": 4, "LONG": 5, "DOUBLE": 6, "LIST": 7, "CLASS": 8,
            "PASSWORD": 9}


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
        Key("max.connections", int, 2147483647,
            "Connections the broker keeps open at once; at the limit it stops accepting until one closes."),
        Key("max.connections.per.ip", int, 2147483647,
            "Connections one client IP may have open; one more is accepted and closed at once."),
        Key("max.connections.per.ip.overrides", str, "",
            "Per-IP exceptions to max.connections.per.ip, as ip:count,ip:count (IP addresses, not names)."),
        Key("connections.max.idle.ms", int, 600000, "A connection with no request for this long is closed."),
        Key("queued.max.request.bytes", int, 104857600,
            "Request bytes held in memory while being received, broker-wide; past it reading pauses "
            "(Kafka's default is -1, unlimited; never below socket.request.max.bytes)."),
        Key("kbroker.request.read.timeout.ms", int, 30000,
            "A request whose first bytes arrived must be complete within this time, or its connection is closed "
            "(kbroker's own key; 0 or less: no limit)."),
        Key("fetch.max.bytes", int, 57671680, "Upper bound on the bytes of one Fetch response."),
        Key("min.insync.replicas", int, 1,
            "Replicas that must have a write for acks=all; not enforced yet (docs/known-differences.md)."),
        Key("compression.type", str, "producer", "Broker-side compression of stored batches."),
        Key("compression.gzip.level", int, -1,
            "Level of broker-side gzip recompression (topic compression.type=gzip); -1 is zlib's default, 6."),
        Key("compression.lz4.level", int, 9,
            "Level of broker-side lz4 recompression: 1 the fast compressor, 2-17 lz4 HC at that level."),
        Key("compression.zstd.level", int, 3, "Level of broker-side zstd recompression."),
        Key("log.cleaner.io.max.bytes.per.second", float, 1.7976931348623157e308,
            "Bytes per second the log cleaner may read plus write (unlimited by default)."),
        Key("max.request.partition.size.limit", int, 2000,
            "Most partitions one DescribeTopicPartitions response page holds."),
        Key("group.coordinator.rebalance.protocols", lambda text: [p.strip() for p in text.split(",") if p.strip()],
            ["classic", "consumer"],
            "Group protocols served: without consumer, ConsumerGroupHeartbeat and ConsumerGroupDescribe answer "
            "UNSUPPORTED_VERSION (the KIP-848 protocol is off)."),
        Key("offsets.topic.num.partitions", int, 50, "Partitions of __consumer_offsets."),
        Key("offsets.retention.minutes", int, 10080, "How long committed offsets of an empty group are kept."),
        Key("group.initial.rebalance.delay.ms", int, 0, "Wait for more members before the first rebalance."),
        Key("group.share.enable", _bool, True, "Share groups (KIP-932): on by default; false hides their APIs."),
        Key("group.min.session.timeout.ms", int, 6000, "Smallest session timeout a member may ask for."),
        Key("group.max.session.timeout.ms", int, 1800000, "Largest session timeout a member may ask for."),
        Key("transaction.max.timeout.ms", int, 900000, "Largest transaction timeout a producer may ask for."),
        Key("transactional.id.expiration.ms", int, 604800000, "Idle time after which a transactional id expires."),
        Key("producer.id.expiration.ms", int, 86400000, "Idle time after which producer state expires."),
        Key("producer.id.expiration.check.interval.ms", int, 600000, "How often idle producers are looked for."),
        Key("broker.rack", str, "", "Rack of this broker, reported in Metadata."),
        Key("cluster.id", str, "", "Cluster id; generated and stored in the data directory when empty."),
        Key("log.cleaner.enable", _bool, True, "Whether the log cleaner compacts topics with cleanup.policy=compact."),
        Key("log.cleaner.backoff.ms", int, 15000, "Pause of the log cleaner when it finds nothing to clean."),
        Key("log.cleaner.dedupe.buffer.size", int, 134217728,
            "Memory budget of one cleaning pass's key map (24 bytes a key, as Kafka counts it)."),
        Key("quota.window.num", int, 11, "Samples kept for client quotas."),
        Key("quota.window.size.seconds", int, 1, "Time span of each client quota sample."),
    ]
}

ALIASES = {"broker.id": "node.id", "log.dir": "log.dirs"}
# kbroker keys read through Kafka's synonyms: (name, multiplier to the key's unit) in order of precedence
_RESOLVE: dict[str, list[tuple[str, int]]] = {
    "log.retention.ms": [("log.retention.ms", 1), ("log.retention.minutes", 60000), ("log.retention.hours", 3600000)],
    "log.roll.ms": [("log.roll.ms", 1), ("log.roll.hours", 3600000)],
    "log.roll.jitter.ms": [("log.roll.jitter.ms", 1), ("log.roll.jitter.hours", 3600000)],
    "log.flush.interval.ms": [("log.flush.interval.ms", 1), ("log.flush.scheduler.interval.ms", 1)],
    "node.id": [("node.id", 1), ("broker.id", 1)],
    "log.dirs": [("log.dirs", 1), ("log.dir", 1)],
}
# what Kafka lists as a broker key's synonyms in DescribeConfigs (DynamicBrokerConfig.brokerConfigSynonyms)
_DESCRIBE_SYNONYMS: dict[str, list[str]] = {}
for _family in (["log.roll.ms", "log.roll.hours"], ["log.roll.jitter.ms", "log.roll.jitter.hours"],
                ["log.retention.ms", "log.retention.minutes", "log.retention.hours"]):
    for _name in _family:
        _DESCRIBE_SYNONYMS[_name] = _family
_DESCRIBE_SYNONYMS["log.flush.interval.ms"] = ["log.flush.interval.ms", "log.flush.scheduler.interval.ms"]


@dataclass(frozen=True)
class KafkaKey:
    name: str
    type: str
    default: str | None
    mode: str  # "read-only", "per-broker" or "cluster-wide"

    @property
    def dynamic(self) -> bool:
        return self.mode != "read-only"

    @property
    def sensitive(self) -> bool:
        return self.type == "PASSWORD"


KAFKA_KEYS: dict[str, KafkaKey] = {name: KafkaKey(name, t, d, m) for name, t, d, m in KAFKA_BROKER_KEYS}
# SslConfigs.RECONFIGURABLE_CONFIGS: dynamic only under a listener prefix (listener.name.<listener>.<key>)
LISTENER_PREFIX_ONLY = frozenset({
    "ssl.keystore.type", "ssl.keystore.location", "ssl.keystore.password", "ssl.key.password", "ssl.truststore.type",
    "ssl.truststore.location", "ssl.truststore.password", "ssl.keystore.certificate.chain", "ssl.keystore.key",
    "ssl.truststore.certificates"})


def render(value: Any, type_name: str | None = None) -> str | None:
    """A value as Kafka writes it in DescribeConfigs (ConfigDef.convertToString)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, float) or type_name == "DOUBLE":
        text = repr(float(value))
        if "e" in text:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}E{int(exponent)}"
        return text
    return str(value)


def parse_typed(type_name: str, text: str) -> Any:
    """Parse a string as a Kafka ConfigDef type; ValueError with Kafka's wording when it does not fit."""
    trimmed = text.strip()
    if type_name in ("INT", "SHORT", "LONG"):
        try:
            value = int(trimmed)
        except ValueError:
            raise ValueError(f"Not a number of type {type_name}") from None
        limit = {"INT": 2**31, "SHORT": 2**15, "LONG": 2**63}[type_name]
        if not -limit <= value < limit:
            raise ValueError(f"Not a number of type {type_name}")
        return value
    if type_name == "DOUBLE":
        try:
            return float(trimmed)
        except ValueError:
            raise ValueError("Not a number of type DOUBLE") from None
    if type_name == "BOOLEAN":
        if trimmed.lower() == "true":
            return True
        if trimmed.lower() == "false":
            return False
        raise ValueError("Expected value to be either true or false")
    if type_name == "LIST":
        return [part.strip() for part in trimmed.split(",") if part.strip()] if trimmed else []
    if type_name in ("STRING", "PASSWORD"):
        return text
    return trimmed  # CLASS


def normalize(type_name: str | None, text: str | None) -> str | None:
    """A stored value as Kafka would describe it (LIST "a, b" becomes "a,b", booleans lower case)."""
    if text is None or type_name is None:
        return text
    try:
        return render(parse_typed(type_name, text), type_name)
    except ValueError:
        return text


def _kbroker_default(key: Key) -> str | None:
    if key.name in ("log.retention.ms", "log.roll.ms"):
        return None  # as in Kafka: unset, derived from the .hours synonym's default
    if key.default == "" and key.parse is str:
        return None
    return render(key.default)


# kbroker's own defaults where they differ from Kafka's (node.id 1, log.dirs ./kbroker-data, ...)
_DEFAULT_OVERRIDES: dict[str, str | None] = {}
for _key in KEYS.values():
    if _key.name in KAFKA_KEYS:
        _mine = _kbroker_default(_key)
        if _mine is not None and _mine != KAFKA_KEYS[_key.name].default:
            _DEFAULT_OVERRIDES[_key.name] = _mine
_DEFAULT_OVERRIDES["broker.id"] = _DEFAULT_OVERRIDES.get("node.id", "1")


def default_of(name: str) -> str | None:
    """The DEFAULT_CONFIG value of a broker key: kbroker's own default where it has one, else Kafka's."""
    if name in _DEFAULT_OVERRIDES:
        return _DEFAULT_OVERRIDES[name]
    spec = KAFKA_KEYS.get(name)
    if spec is not None:
        return spec.default
    key = KEYS.get(name)
    return _kbroker_default(key) if key is not None else None


def documentation(name: str) -> str:
    key = KEYS.get(ALIASES.get(name, name))
    if key is not None:
        return key.doc
    reason = no_effect_reason(name)
    if reason is not None:
        return f"Accepted and reported; kbroker does not act on it ({reason})."
    return "Kafka's setting, which kbroker honours as Kafka does (see docs/configuration.md)."


class BrokerConfig:
    """Effective settings from Kafka's layers: dynamic per-broker, dynamic default, static, default."""

    def __init__(self, overrides: dict[str, str] | None = None) -> None:
        self.static: dict[str, str] = {}
        self.dynamic_default: dict[str, str] = {}
        self.dynamic_broker: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self._recompute()
        if overrides:
            self.update(overrides.items())

    # -- static settings

    def update(self, items: Iterable[tuple[str, str]]) -> None:
        """Add static settings (a properties file, then --set); ValueError for a bad value of a known key."""
        for raw_key, text in items:
            check_value(raw_key, text)
            self.static[raw_key] = text
        self._recompute()

    def load_properties(self, path: Path) -> None:
        self.update(parse_properties(path.read_text()))
        if self.unknown:
            log.info("ignoring unknown keys from %s: %s", path, ", ".join(sorted(self.unknown)))

    @property
    def explicit(self) -> dict[str, str]:
        """Static settings of keys kbroker reads, by kbroker's name for them."""
        return {ALIASES.get(k, k): v for k, v in self.static.items() if ALIASES.get(k, k) in KEYS}

    @property
    def unknown(self) -> dict[str, str]:
        """Static settings of keys neither kbroker nor Kafka knows."""
        return {k: v for k, v in self.static.items()
                if ALIASES.get(k, k) not in KEYS and k not in KAFKA_KEYS and not _is_synonym(k)}

    # -- dynamic settings

    def set_dynamic(self, per_broker: bool, configs: dict[str, str]) -> None:
        """Replace one dynamic layer (values already validated) and recompute."""
        layer = self.dynamic_broker if per_broker else self.dynamic_default
        layer.clear()
        layer.update(configs)
        self._recompute()

    def dynamic_layer(self, per_broker: bool) -> dict[str, str]:
        return dict(self.dynamic_broker if per_broker else self.dynamic_default)

    # -- reading

    def _merged(self) -> dict[str, str]:
        return {**self.static, **self.dynamic_default, **self.dynamic_broker}

    def raw(self, name: str) -> str | None:
        """The string set for exactly this name in the highest layer that has it, None when unset."""
        for layer in (self.dynamic_broker, self.dynamic_default, self.static):
            if name in layer:
                return layer[name]
        return None

    def resolve(self, synonyms: list[tuple[str, int]]) -> str | None:
        """The value of a setting known under several names: the first one set in any layer, else the first
        one with a default (each scaled by its multiplier, e.g. hours to milliseconds)."""
        merged = self._merged()
        for name, factor in synonyms:
            if name in merged:
                return _scale(merged[name], factor)
        for name, factor in synonyms:
            default = default_of(name)
            if default is not None:
                return _scale(default, factor)
        return None

    def _recompute(self) -> None:
        merged = self._merged()
        values: dict[str, Any] = {}
        for key in KEYS.values():
            text = None
            for name, factor in _RESOLVE.get(key.name, [(key.name, 1)]):
                if name in merged:
                    text = _scale(merged[name], factor)
                    break
            if text is None:
                values[key.name] = key.default
                continue
            try:
                values[key.name] = key.parse(text)
            except ValueError:
                log.warning("ignoring bad value %r for %s", text, key.name)
                values[key.name] = key.default
        self.values = values

    def __getitem__(self, key: str) -> Any:
        if key in self.values:
            return self.values[key]
        spec = KAFKA_KEYS.get(key)
        if spec is None:
            raise KeyError(key)
        text = self.raw(key)
        if text is None:
            text = default_of(key)
        return None if text is None else parse_typed(spec.type, text)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except (KeyError, ValueError):
            return default

    # -- DescribeConfigs

    def describe(self, per_broker: bool, include_synonyms: bool, include_docs: bool,
                 names: list[str] | None) -> list[dict]:
        """DescribeConfigs entries for this broker (resource "<node id>") or the cluster default (resource "")."""
        if per_broker:
            candidates = list(KAFKA_KEYS)
            for layer in (self.static, self.dynamic_default, self.dynamic_broker):
                candidates.extend(k for k in layer if k not in KAFKA_KEYS)
        else:
            candidates = list(self.dynamic_default)
        seen: set[str] = set()
        out = []
        for name in candidates:
            if name in seen or (names and name not in names):
                continue
            seen.add(name)
            out.append(self._describe_one(name, per_broker, include_synonyms, include_docs))
        return out

    def _describe_one(self, name: str, per_broker: bool, include_synonyms: bool, include_docs: bool) -> dict:
        spec = KAFKA_KEYS.get(name)
        type_name = spec.type if spec else None
        sensitive = bool(spec and spec.sensitive)
        synonyms = self.synonyms(name, sensitive)
        if not per_broker:
            synonyms = [s for s in synonyms if s["source"] == SOURCE_DYNAMIC_DEFAULT_BROKER]
        if per_broker:
            value = self.raw(name)
            value = default_of(name) if value is None else normalize(type_name, value)
        else:
            value = normalize(type_name, self.dynamic_default.get(name))
        return {
            "name": name,
            "value": None if sensitive else value,
            "read_only": not (spec and spec.dynamic),
            "config_source": synonyms[0]["source"] if synonyms else SOURCE_DEFAULT,
            "is_sensitive": sensitive,
            "synonyms": synonyms if include_synonyms else [],
            "config_type": TYPE_IDS.get(type_name or "", 0),
            "documentation": documentation(name) if include_docs else None,
        }

    def synonyms(self, name: str, sensitive: bool = False) -> list[dict]:
        """Kafka's synonym list for a broker key: each layer (dynamic broker, dynamic default, static, default)
        in turn, each synonym name in its order, cut before the first entry of `name` itself."""
        names = _DESCRIBE_SYNONYMS.get(name, [name])
        found = []
        for source, layer in ((SOURCE_DYNAMIC_BROKER, self.dynamic_broker),
                              (SOURCE_DYNAMIC_DEFAULT_BROKER, self.dynamic_default),
                              (SOURCE_STATIC_BROKER, self.static)):
            for synonym in names:
                if synonym in layer:
                    spec = KAFKA_KEYS.get(synonym)
                    value = normalize(spec.type if spec else None, layer[synonym])
                    found.append({"name": synonym, "value": None if sensitive else value, "source": source})
        for synonym in names:
            default = default_of(synonym)
            if default is not None:
                found.append({"name": synonym, "value": None if sensitive else default, "source": SOURCE_DEFAULT})
        while found and found[0]["name"] != name:
            found.pop(0)
        return found


def _is_synonym(name: str) -> bool:
    return any(name == n for family in _RESOLVE.values() for n, _ in family)


def _scale(text: str, factor: int) -> str:
    if factor == 1:
        return text
    try:
        return str(int(text.strip()) * factor)
    except ValueError:
        return text


def check_value(name: str, text: str) -> None:
    """ValueError (Kafka's wording) when text cannot be a value of the broker key name."""
    key = KEYS.get(ALIASES.get(name, name))
    if key is not None:
        try:
            key.parse(text)
        except ValueError as exc:
            raise ValueError(f"bad value for {name}: {exc}") from exc
    spec = KAFKA_KEYS.get(name)
    if spec is not None:
        try:
            parse_typed(spec.type, text)
        except ValueError as exc:
            raise ValueError(f"Invalid value {text} for configuration {name}: {exc}") from exc


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
