"""IncrementalAlterConfigs (44), v0–1: SET, DELETE, APPEND and SUBTRACT (the last two on LIST keys, starting
from the default when unset) on a topic's configs, this broker's dynamic configs ("<node id>", or "" for the
cluster default), its loggers (BROKER_LOGGER), a group's configs (GROUP: SET and DELETE) or a client-metrics
subscription (CLIENT_METRICS, KIP-714). The result is validated as a whole and applied live unless
validate_only; a failing resource changes nothing. Kafka's preprocessing applies: a resource twice in a
request, duplicate keys, or a null value for anything but DELETE make that resource INVALID_REQUEST.
"""
from __future__ import annotations

from kbroker.config import KAFKA_KEYS, default_of
from kbroker.coordinator import group_configs
from kbroker.handlers._configs import (BROKER, BROKER_LOGGER, CLIENT_METRICS, GROUP, TOPIC, alter_each, alter_loggers,
                                       broker_id_of)
from kbroker.handlers._authz import Operation, config_resource_error
from kbroker.server.context import RequestContext
from kbroker.telemetry import configs as client_metrics
from kbroker.topic_config import OP_DELETE, apply_incremental, topic_default, topic_type
from wire.errors import ErrorCode, KafkaError

KEY, MIN, MAX = 44, 0, 1


def _broker_type(name: str) -> str | None:
    spec = KAFKA_KEYS.get(name)
    if spec is None:
        raise KafkaError(ErrorCode.INVALID_CONFIG, f"Unknown config name: {name}")
    return spec.type


def _alter(ctx: RequestContext, rtype: int, name: str, ops: list[tuple[str, int, str | None]], validate_only: bool) -> None:
    broker = ctx.broker
    for key, op, value in ops:
        if op not in (0, 1, 2, 3):
            raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unknown operations type {op}")
    if rtype == BROKER_LOGGER:
        try:
            requested = int(name)
        except ValueError:
            raise KafkaError(ErrorCode.INVALID_REQUEST, f"Node id must be an integer, but it is: {name}") from None
        if requested != broker.node_id:
            raise KafkaError(ErrorCode.INVALID_REQUEST,
                             f"Unexpected node id. Expected {broker.node_id}, but received {requested}")
        alter_loggers(ops, validate_only)
    elif rtype == TOPIC:
        if not name:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "Default topic resources are not allowed.")
        info = broker.topic(name)
        current = dict(info.configs) if info is not None else {}
        updated = apply_incremental(current, ops, topic_type, topic_default)
        broker.alter_topic_configs(name, updated, validate_only=validate_only)
    elif rtype == BROKER:
        per_broker = bool(name)
        if per_broker:
            broker_id_of(name, broker.node_id, what="Node id")
        current = broker.config.dynamic_layer(per_broker)
        for key, op, _ in ops:
            if op in (2, 3):
                _broker_type(key)
        try:
            updated = apply_incremental(current, ops, lambda k: KAFKA_KEYS[k].type if k in KAFKA_KEYS else None,
                                        default_of)
        except KafkaError as exc:
            if exc.code == ErrorCode.INVALID_CONFIG:  # Kafka's broker-side wording
                key = next(k for k, o, _ in ops if o in (2, 3) and _broker_type(k) != "LIST")
                verb = "append" if next(o for k, o, _ in ops if k == key) == 2 else "subtract"
                raise KafkaError(ErrorCode.INVALID_CONFIG,
                                 f"Config value {verb} is not allowed for config key: {key}") from None
            raise
        broker.alter_broker_configs(per_broker, updated, validate_only=validate_only)
    elif rtype == GROUP:
        group_configs.alter(broker, name, ops, validate_only, incremental=True)
    elif rtype == CLIENT_METRICS:
        client_metrics.alter(broker, name, ops, validate_only)
    else:
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unknown resource type {rtype}")


async def handle(ctx: RequestContext, request: dict) -> dict:
    def alter(resource: dict) -> None:
        denied = config_resource_error(ctx, Operation.ALTER_CONFIGS, resource["resource_type"],
                                       resource["resource_name"])
        if denied is not None:
            raise KafkaError(ErrorCode(denied))
        ops = [(c["name"], c["config_operation"], c["value"]) for c in resource["configs"]]
        _alter(ctx, resource["resource_type"], resource["resource_name"], ops, request["validate_only"])

    responses = alter_each(request["resources"], alter, value_required=lambda c: c["config_operation"] != OP_DELETE)
    return {"throttle_time_ms": 0, "responses": responses}
