"""AlterConfigs (33), v0–2, the legacy API: each resource's configs are replaced by the set given (keys left out
go back to their defaults). Topics and this broker's dynamic configs ("<node id>" or "" for the cluster
default); validate_only checks without changing anything. Kafka's preprocessing applies: a resource twice in a
request, duplicate keys or null values make that resource INVALID_REQUEST.
"""
from __future__ import annotations

from kbroker.handlers._configs import BROKER, CLIENT_METRICS, GROUP, TOPIC, alter_each, broker_id_of
from kbroker.handlers._authz import Operation, config_resource_error
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
    def alter(resource: dict) -> None:
        denied = config_resource_error(ctx, Operation.ALTER_CONFIGS, resource["resource_type"],
                                       resource["resource_name"])
        if denied is not None:
            raise KafkaError(ErrorCode(denied))
        configs = {c["name"]: c["value"] for c in resource["configs"]}
        alter_resource(ctx, resource["resource_type"], resource["resource_name"], configs, request["validate_only"])

    responses = alter_each(request["resources"], alter, value_required=lambda c: True)
    return {"throttle_time_ms": 0, "responses": responses}
