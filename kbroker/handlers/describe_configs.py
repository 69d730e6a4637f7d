"""DescribeConfigs (32), v0–4: every config of a topic, of this broker ("<node id>"), of the cluster-wide
dynamic defaults (""), or the broker's loggers (BROKER_LOGGER), with source, synonyms (v1+), type and
documentation (v3+), as Kafka's ConfigHelper answers.

A topic lists all of Kafka's topic keys with their effective values; the broker lists all of Kafka's broker
keys (plus any other key it was given); the "" resource lists only the dynamic defaults set. A GROUP lists
every group config with its override or the broker default (kbroker.coordinator.group_configs); a
CLIENT_METRICS subscription its metrics, interval.ms and match (kbroker.telemetry); unknown resource types get
INVALID_REQUEST.
"""
from __future__ import annotations

from kbroker.coordinator import group_configs
from kbroker.telemetry import configs as client_metrics
from kbroker.handlers._configs import BROKER, BROKER_LOGGER, CLIENT_METRICS, GROUP, TOPIC, broker_id_of, describe_loggers
from kbroker.metadata import validate_topic_name
from kbroker.handlers._authz import Operation, config_resource_error
from kbroker.server.context import RequestContext
from kbroker.topic_config import describe_topic
from wire.errors import ErrorCode, KafkaError

KEY, MIN, MAX = 32, 0, 4

DEFAULT_SOURCE = 5


def _configs(ctx: RequestContext, rtype: int, name: str, keys: list[str] | None, synonyms: bool, docs: bool) -> list[dict]:
    broker = ctx.broker
    if rtype == TOPIC:
        validate_topic_name(name)
        info = broker.topic(name)
        if info is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        return describe_topic(info.configs, broker.config, include_synonyms=synonyms, include_docs=docs, names=keys)
    if rtype == BROKER:
        if not name:
            return broker.config.describe(False, synonyms, docs, keys)
        broker_id_of(name, broker.node_id)
        return broker.config.describe(True, synonyms, docs, keys)
    if rtype == BROKER_LOGGER:
        if not name:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "Broker id must not be empty")
        try:
            requested = int(name)
        except ValueError:
            raise KafkaError(ErrorCode.INVALID_REQUEST, f"Broker id must be an integer, but it is: {name}") from None
        if requested != broker.node_id:
            raise KafkaError(ErrorCode.INVALID_REQUEST,
                             f"Unexpected broker id, expected {broker.node_id} but received {name}")
        return describe_loggers(keys)
    if rtype == CLIENT_METRICS:
        return client_metrics.describe(broker, name, keys, synonyms, docs)
    if rtype == GROUP:
        return group_configs.describe(broker, name, keys, synonyms, docs)
    raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unsupported resource type: {rtype}")


async def handle(ctx: RequestContext, request: dict) -> dict:
    version = ctx.version
    synonyms = bool(request.get("include_synonyms")) and version >= 1
    docs = bool(request.get("include_documentation")) and version >= 3
    results = []
    for resource in request["resources"]:
        entry = {"error_code": 0, "error_message": None, "resource_type": resource["resource_type"],
                 "resource_name": resource["resource_name"], "configs": []}
        denied = config_resource_error(ctx, Operation.DESCRIBE_CONFIGS, resource["resource_type"],
                                       resource["resource_name"])
        if denied is not None:
            entry["error_code"] = denied
            results.append(entry)
            continue
        try:
            configs = _configs(ctx, resource["resource_type"], resource["resource_name"],
                               resource["configuration_keys"] or None, synonyms, docs)
            for c in configs:
                c["is_default"] = c["config_source"] == DEFAULT_SOURCE
            entry["configs"] = configs
        except KafkaError as exc:
            entry["error_code"], entry["error_message"] = int(exc.code), exc.message
        results.append(entry)
    return {"throttle_time_ms": 0, "results": results}
