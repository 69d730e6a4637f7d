"""What the three config APIs (DescribeConfigs, AlterConfigs, IncrementalAlterConfigs) share: resource types,
broker resource names, and the broker-logger resource (Python's loggers, standing in for log4j's)."""
from __future__ import annotations

import logging
from collections import Counter
from typing import Any, Callable

from kbroker.config import SOURCE_DYNAMIC_BROKER_LOGGER
from wire.errors import ErrorCode, KafkaError

TOPIC, BROKER, BROKER_LOGGER, CLIENT_METRICS, GROUP = 2, 4, 8, 16, 32
KNOWN_TYPES = (TOPIC, BROKER, BROKER_LOGGER, CLIENT_METRICS, GROUP)
ROOT_LOGGER = "root"
LEVELS = {"TRACE": 5, "DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARN": logging.WARNING,
          "ERROR": logging.ERROR, "FATAL": logging.CRITICAL}
_NAMES = {5: "TRACE", logging.DEBUG: "DEBUG", logging.INFO: "INFO", logging.WARNING: "WARN",
          logging.ERROR: "ERROR", logging.CRITICAL: "FATAL"}


def broker_id_of(name: str, node_id: int, *, what: str = "Broker id") -> None:
    """InvalidRequest unless name is this broker's id (Kafka's ConfigHelper / ConfigAdminManager wording)."""
    try:
        requested = int(name)
    except ValueError:
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"{what} must be an integer, but it is: {name}") from None
    if requested != node_id:
        raise KafkaError(ErrorCode.INVALID_REQUEST,
                         f"Unexpected broker id, expected {node_id} or empty string, but received {name}")


def logger_levels() -> dict[str, str]:
    """Every logger with its effective level, as Kafka's Log4jController lists them."""
    out = {ROOT_LOGGER: _NAMES.get(logging.getLogger().getEffectiveLevel(), "INFO")}
    for name in sorted(logging.Logger.manager.loggerDict):
        logger = logging.getLogger(name)
        out[name] = _NAMES.get(logger.getEffectiveLevel(), logging.getLevelName(logger.getEffectiveLevel()))
    return out


def describe_loggers(names: list[str] | None) -> list[dict]:
    return [{"name": name, "value": level, "read_only": False, "config_source": SOURCE_DYNAMIC_BROKER_LOGGER,
             "is_sensitive": False, "synonyms": [], "config_type": 0, "documentation": None}
            for name, level in logger_levels().items() if not names or name in names]


def _logger(name: str) -> logging.Logger:
    return logging.getLogger() if name == ROOT_LOGGER else logging.getLogger(name)


def _exists(name: str) -> bool:
    return name == ROOT_LOGGER or name in logging.Logger.manager.loggerDict


def alter_loggers(ops: list[tuple[str, int, str | None]], validate_only: bool) -> None:
    """SET / DELETE of logger levels (Kafka's RuntimeLoggerManager); APPEND and SUBTRACT are refused."""
    valid = ", ".join(sorted(LEVELS))
    for name, op, value in ops:
        if op == 0:
            if not _exists(name):
                raise KafkaError(ErrorCode.INVALID_CONFIG, f"Logger {name} does not exist!")
            if value not in LEVELS:
                raise KafkaError(ErrorCode.INVALID_CONFIG, f"Cannot set the log level of {name} to {value} as it is "
                                                           f"not a supported log level. Valid log levels are {valid}")
        elif op == 1:
            if not _exists(name):
                raise KafkaError(ErrorCode.INVALID_CONFIG, f"Logger {name} does not exist!")
            if name == ROOT_LOGGER:
                raise KafkaError(ErrorCode.INVALID_REQUEST, f"Removing the log level of the {ROOT_LOGGER} logger is not allowed")
        elif op in (2, 3):
            verb = "APPEND" if op == 2 else "SUBTRACT"
            raise KafkaError(ErrorCode.INVALID_REQUEST, f"{verb} operation is not allowed for the BROKER_LOGGER resource")
        else:
            raise KafkaError(ErrorCode.INVALID_REQUEST,
                             f"Unknown operation type {op} is not allowed for the BROKER_LOGGER resource")
    if validate_only:
        return
    for name, op, value in ops:
        if op == 0:
            _logger(name).setLevel(LEVELS[value])  # type: ignore[index]
        else:
            _logger(name).setLevel(logging.NOTSET)


def alter_each(resources: list, alter: Callable[[Any], None], *, value_required: Callable[[Any], bool]) -> list[dict]:
    """The per-resource answers of AlterConfigs / IncrementalAlterConfigs: Kafka's request checks (a resource at
    most once, no duplicate keys, no null value where one is needed), then `alter(resource)`; errors per resource."""
    counts = Counter((r["resource_type"], r["resource_name"]) for r in resources)
    responses = []
    for resource in resources:
        rtype, name = resource["resource_type"], resource["resource_name"]
        entry = {"error_code": 0, "error_message": None, "resource_type": rtype, "resource_name": name}
        try:
            if counts[(rtype, name)] > 1:
                raise KafkaError(ErrorCode.INVALID_REQUEST, "Each resource must appear at most once.")
            names = [c["name"] for c in resource["configs"]]
            if len(set(names)) != len(names):
                raise KafkaError(ErrorCode.INVALID_REQUEST, "Error due to duplicate config keys")
            nulls = [c["name"] for c in resource["configs"] if c["value"] is None and value_required(c)]
            if nulls:
                raise KafkaError(ErrorCode.INVALID_REQUEST, "Null value not supported for : " + ", ".join(nulls))
            alter(resource)
        except KafkaError as exc:
            entry["error_code"], entry["error_message"] = int(exc.code), exc.message
        responses.append(entry)
    return responses
