"""Group configs (KIP-848 / KIP-932): per-group overrides of the broker's group defaults, set with
IncrementalAlterConfigs / AlterConfigs on the GROUP resource (type 32) and described with DescribeConfigs.

Each key falls back to a broker key (its default for the group) and, where Kafka bounds it, must lie within the
broker's min/max. The overrides live in the broker's metadata (kept across restarts) and are read at each use,
so an altered session timeout or lock duration applies from the next heartbeat or fetch on.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from kbroker.coordinator.share.settings import valid_auto_offset_reset
from wire.errors import ErrorCode, KafkaError

SOURCE_GROUP_CONFIG, SOURCE_DEFAULT_CONFIG = 8, 5


@dataclass(frozen=True)
class GroupKey:
    name: str
    type: str  # Kafka's ConfigDef type name
    broker_key: str | None  # the broker key whose value is the group default
    default: str
    bounds: tuple[str, str] | None = None  # broker keys of the smallest and largest value allowed
    check: Callable[[str], bool] | None = None
    doc: str = ""


GROUP_KEYS: dict[str, GroupKey] = {k.name: k for k in [
    GroupKey("consumer.session.timeout.ms", "INT", "group.consumer.session.timeout.ms", "45000",
             ("group.consumer.min.session.timeout.ms", "group.consumer.max.session.timeout.ms"),
             doc="A consumer group member is fenced after this long without a heartbeat."),
    GroupKey("consumer.heartbeat.interval.ms", "INT", "group.consumer.heartbeat.interval.ms", "5000",
             ("group.consumer.min.heartbeat.interval.ms", "group.consumer.max.heartbeat.interval.ms"),
             doc="How often consumer group members heartbeat."),
    GroupKey("share.session.timeout.ms", "INT", "group.share.session.timeout.ms", "45000",
             ("group.share.min.session.timeout.ms", "group.share.max.session.timeout.ms"),
             doc="A share group member is removed after this long without a heartbeat."),
    GroupKey("share.heartbeat.interval.ms", "INT", "group.share.heartbeat.interval.ms", "5000",
             ("group.share.min.heartbeat.interval.ms", "group.share.max.heartbeat.interval.ms"),
             doc="How often share group members heartbeat."),
    GroupKey("share.record.lock.duration.ms", "INT", "group.share.record.lock.duration.ms", "30000",
             ("group.share.min.record.lock.duration.ms", "group.share.max.record.lock.duration.ms"),
             doc="How long an acquired record stays locked to its consumer."),
    GroupKey("share.delivery.count.limit", "INT", "group.share.delivery.count.limit", "5",
             check=lambda v: 2 <= int(v) <= 10,
             doc="Deliveries after which a record that comes back is archived."),
    GroupKey("share.partition.max.record.locks", "INT", "group.share.partition.max.record.locks", "2000",
             check=lambda v: 100 <= int(v) <= 4000,
             doc="Records of one share-partition that may be locked at once."),
    GroupKey("share.auto.offset.reset", "STRING", None, "latest", check=valid_auto_offset_reset,
             doc="Where a share group starts on a partition: latest, earliest or by_duration:<ISO-8601>."),
    GroupKey("share.isolation.level", "STRING", None, "read_uncommitted",
             check=lambda v: v.strip().lower() in ("read_committed", "read_uncommitted"),
             doc="Whether share groups deliver records of open and aborted transactions."),
    GroupKey("streams.session.timeout.ms", "INT", "group.streams.session.timeout.ms", "45000",
             doc="A streams group member is fenced after this long without a heartbeat."),
    GroupKey("streams.heartbeat.interval.ms", "INT", "group.streams.heartbeat.interval.ms", "5000",
             doc="How often streams group members heartbeat."),
    GroupKey("streams.num.standby.replicas", "INT", "group.streams.num.standby.replicas", "0",
             doc="Standby replicas of each task of a streams group."),
]}

_TYPE_IDS = {"BOOLEAN": 1, "STRING": 2, "INT": 3, "SHORT": 4, "LONG": 5, "DOUBLE": 6, "LIST": 7}


def _broker_value(broker: Any, key: str | None, default: str) -> str:
    if key is None:
        return default
    value = broker.config.get(key, None)
    return default if value is None else str(value)


def stored(broker: Any) -> dict[str, dict[str, str]]:
    configs = getattr(broker.metadata, "group_configs", None)
    if configs is None:
        configs = broker.metadata.group_configs = {}
    return configs


def value(broker: Any, group_id: str, name: str) -> str:
    """The effective value of a group config for one group."""
    key = GROUP_KEYS[name]
    override = stored(broker).get(group_id, {}).get(name)
    return override if override is not None else _broker_value(broker, key.broker_key, key.default)


def int_value(broker: Any, group_id: str, name: str) -> int:
    try:
        return int(value(broker, group_id, name))
    except ValueError:
        return int(GROUP_KEYS[name].default)


def validate(broker: Any, name: str, text: str) -> None:
    key = GROUP_KEYS.get(name)
    if key is None:
        raise KafkaError(ErrorCode.INVALID_CONFIG, f"Unknown group config name: {name}")
    try:
        if key.type == "INT":
            number = int(text)
            if key.bounds is not None:
                lo = int(_broker_value(broker, key.bounds[0], "0"))
                hi = int(_broker_value(broker, key.bounds[1], str(2**31 - 1)))
                if not lo <= number <= hi:
                    raise KafkaError(ErrorCode.INVALID_CONFIG, f"{name} must be between {lo} and {hi}")
        if key.check is not None and not key.check(text):
            raise KafkaError(ErrorCode.INVALID_CONFIG, f"Invalid value {text} for configuration {name}")
    except ValueError:
        raise KafkaError(ErrorCode.INVALID_CONFIG,
                         f"Invalid value {text} for configuration {name}: Not a number of type {key.type}") from None


def alter(broker: Any, group_id: str, ops: list[tuple[str, int, str | None]], validate_only: bool, *,
          incremental: bool) -> None:
    """SET (0) and DELETE (1) of group configs (APPEND/SUBTRACT: no group key is a list); AlterConfigs
    (incremental False) replaces the whole set."""
    if not group_id:
        raise KafkaError(ErrorCode.INVALID_REQUEST, "Group name must not be empty")
    current = {} if not incremental else dict(stored(broker).get(group_id, {}))
    for name, op, text in ops:
        if name not in GROUP_KEYS:
            raise KafkaError(ErrorCode.INVALID_CONFIG, f"Unknown group config name: {name}")
        if op == 0:
            validate(broker, name, text or "")
            current[name] = text or ""
        elif op == 1:
            current.pop(name, None)
        elif op in (2, 3):
            raise KafkaError(ErrorCode.INVALID_CONFIG, f"Config value append is not allowed for config key: {name}"
                             if op == 2 else f"Config value subtract is not allowed for config key: {name}")
        else:
            raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unknown operations type {op}")
    if validate_only:
        return
    configs = stored(broker)
    if current:
        configs[group_id] = current
    else:
        configs.pop(group_id, None)
    save = getattr(broker.metadata, "save", None)
    if save is not None:
        save()


def describe(broker: Any, group_id: str, names: list[str] | None, include_synonyms: bool,
             include_docs: bool) -> list[dict]:
    if not group_id:
        raise KafkaError(ErrorCode.INVALID_REQUEST, "Group name must not be empty")
    overrides = stored(broker).get(group_id, {})
    out = []
    for name, key in GROUP_KEYS.items():
        if names and name not in names:
            continue
        default = _broker_value(broker, key.broker_key, key.default)
        synonyms = []
        if name in overrides:
            synonyms.append({"name": name, "value": overrides[name], "source": SOURCE_GROUP_CONFIG})
        synonyms.append({"name": key.broker_key or name, "value": default, "source": SOURCE_DEFAULT_CONFIG})
        out.append({"name": name, "value": overrides.get(name, default), "read_only": False,
                    "config_source": SOURCE_GROUP_CONFIG if name in overrides else SOURCE_DEFAULT_CONFIG,
                    "is_sensitive": False, "synonyms": synonyms if include_synonyms else [],
                    "config_type": _TYPE_IDS.get(key.type, 0), "documentation": key.doc if include_docs else None})
    return out
