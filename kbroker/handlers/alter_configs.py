"""AlterConfigs (33), v0–2, the legacy API: each resource's configs are replaced by the set given (keys left out
go back to their defaults). Topics and this broker's dynamic configs ("<node id>" or "" for the cluster
default); validate_only checks without changing anything. Kafka's preprocessing applies: a resource twice in a
request, duplicate keys or null values make that resource INVALID_REQUEST.
"""
from __future__ import annotations

from collections import Counter

from kbroker.handlers._configs import BROKER, CLIENT_METRICS, GROUP, TOPIC, broker_id_of
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode, KafkaError

KEY, MIN, MAX = 33, 0, 2


def alter_resource(ctx: RequestContext, rtype: int, name: str, configs: dict[str, str | None], validate_only: bool) -> None:
    broker = ctx.broker
    if rtype == TOPIC:
        if not name:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "Default topic resources are not allowed.")
        broker.alter_topic_configs(name, configs, validate_only=validate_only)
    elif rtype == BROKER:
        if name:
            broker_id_of(name, broker.node_id, what="Node id")
        broker.alter_broker_configs(bool(name), {k: v for k, v in configs.items() if v is not None},
                                    validate_only=validate_only)
    elif rtype in (GROUP, CLIENT_METRICS):
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unknown resource type {rtype}")
    else:
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unknown resource type {rtype}")


async def handle(ctx: RequestContext, request: dict) -> dict:
    resources = request["resources"]
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
            nulls = [c["name"] for c in resource["configs"] if c["value"] is None]
            if nulls:
                raise KafkaError(ErrorCode.INVALID_REQUEST, "Null value not supported for : " + ", ".join(nulls))
            configs = {c["name"]: c["value"] for c in resource["configs"]}
            alter_resource(ctx, rtype, name, configs, request["validate_only"])
        except KafkaError as exc:
            entry["error_code"], entry["error_message"] = int(exc.code), exc.message
        responses.append(entry)
    return {"throttle_time_ms": 0, "responses": responses}
