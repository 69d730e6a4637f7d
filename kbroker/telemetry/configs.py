"""Client-metrics subscriptions (KIP-714): config resources of type CLIENT_METRICS (16), each naming the metrics
to collect (`metrics`: prefixes, `*` for all), how often (`interval.ms`) and from which clients (`match`:
`selector=regex` with the selectors client_instance_id, client_id, client_software_name,
client_software_version, client_source_address, client_source_port; none matches every client)."""
from __future__ import annotations

import re
from typing import Any

from wire.errors import ErrorCode, KafkaError

SELECTORS = ("client_instance_id", "client_id", "client_software_name", "client_software_version",
             "client_source_address", "client_source_port")
DEFAULT_INTERVAL_MS = 300000
KEYS = {"metrics": ("LIST", ""), "interval.ms": ("INT", str(DEFAULT_INTERVAL_MS)), "match": ("LIST", "")}
_TYPE_IDS = {"INT": 3, "LIST": 7}


def stored(broker: Any) -> dict[str, dict[str, str]]:
    configs = getattr(broker.metadata, "client_metrics", None)
    if configs is None:
        configs = broker.metadata.client_metrics = {}
    return configs


def split(text: str | None) -> list[str]:
    return [x.strip() for x in (text or "").split(",") if x.strip()]


def parse_match(entries: list[str]) -> dict[str, re.Pattern]:
    out = {}
    for entry in entries:
        selector, sep, pattern = entry.partition("=")
        selector = selector.strip()
        if not sep or selector not in SELECTORS:
            raise KafkaError(ErrorCode.INVALID_CONFIG, f"Invalid client matching pattern: {entry}")
        try:
            out[selector] = re.compile(pattern.strip())
        except re.error as exc:
            raise KafkaError(ErrorCode.INVALID_CONFIG, f"Invalid regular expression in {entry}: {exc}") from None
    return out


def _validate(name: str, text: str) -> None:
    if name not in KEYS:
        raise KafkaError(ErrorCode.INVALID_CONFIG, f"Unknown client metrics config name: {name}")
    if name == "interval.ms":
        try:
            value = int(text)
        except ValueError:
            raise KafkaError(ErrorCode.INVALID_CONFIG, f"Invalid value {text} for interval.ms") from None
        if not 100 <= value <= 3600000:
            raise KafkaError(ErrorCode.INVALID_CONFIG, "interval.ms must be between 100 and 3600000")
    elif name == "match":
        parse_match(split(text))


def alter(broker: Any, name: str, ops: list[tuple[str, int, str | None]], validate_only: bool) -> None:
    """SET (0), DELETE (1), APPEND (2) and SUBTRACT (3) on one subscription; all of it or nothing."""
    if not name:
        raise KafkaError(ErrorCode.INVALID_REQUEST, "Client metrics subscription name must not be empty")
    current = dict(stored(broker).get(name, {}))
    for key, op, text in ops:
        if key not in KEYS:
            raise KafkaError(ErrorCode.INVALID_CONFIG, f"Unknown client metrics config name: {key}")
        if op == 0:
            current[key] = text or ""
        elif op == 1:
            current.pop(key, None)
        elif op in (2, 3):
            if KEYS[key][0] != "LIST":
                raise KafkaError(ErrorCode.INVALID_CONFIG, f"Config value append is not allowed for config key: {key}")
            items = split(current.get(key))
            for item in split(text):
                if op == 2 and item not in items:
                    items.append(item)
                elif op == 3 and item in items:
                    items.remove(item)
            current[key] = ",".join(items)
        else:
            raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unknown operations type {op}")
    for key, text in current.items():
        _validate(key, text)
    if validate_only:
        return
    configs = stored(broker)
    if current:
        configs[name] = current
    else:
        configs.pop(name, None)
    save = getattr(broker.metadata, "save", None)
    if save is not None:
        save()


def describe(broker: Any, name: str, names: list[str] | None, include_synonyms: bool, include_docs: bool) -> list[dict]:
    if not name:
        raise KafkaError(ErrorCode.INVALID_REQUEST, "Client metrics subscription name must not be empty")
    values = stored(broker).get(name, {})
    out = []
    for key, (type_name, default) in KEYS.items():
        if names and key not in names:
            continue
        source = 7 if key in values else 5  # CLIENT_METRICS_CONFIG, DEFAULT_CONFIG
        value = values.get(key, default)
        out.append({"name": key, "value": value, "read_only": False, "config_source": source, "is_sensitive": False,
                    "synonyms": [{"name": key, "value": value, "source": source}] if include_synonyms else [],
                    "config_type": _TYPE_IDS[type_name], "documentation": None})
    return out
