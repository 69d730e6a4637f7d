"""ListConfigResources (74), v0–1: the resources that configs can be described for (KIP-1142; v0 is KIP-714's
ListClientMetricsResources and lists client-metrics subscriptions only).

v1 lists, for each type asked (all of them when none is): topics (2), this broker (4) and its loggers (8) by
node id, client-metrics subscriptions (16) and groups (32: every classic, consumer and share
group, and any group with group configs). A type Kafka does not list is UNSUPPORTED_VERSION, as Kafka answers.
"""
from __future__ import annotations

from kbroker.coordinator import group_coordinator
from kbroker.coordinator.share import share_coordinator
from kbroker.handlers._configs import BROKER, BROKER_LOGGER, CLIENT_METRICS, GROUP, TOPIC
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 74, 0, 1

LISTED = (TOPIC, BROKER, BROKER_LOGGER, CLIENT_METRICS, GROUP)


def _names(ctx: RequestContext, rtype: int) -> list[str]:
    broker = ctx.broker
    if rtype == TOPIC:
        return sorted(broker.metadata.topics)
    if rtype in (BROKER, BROKER_LOGGER):
        return [str(broker.node_id)]
    if rtype == GROUP:
        _, groups = group_coordinator(broker).list_groups()
        names = {g["group_id"] for g in groups}
        names.update(g["group_id"] for g in share_coordinator(broker).list_groups())
        names.update(getattr(broker.metadata, "group_configs", {}) or {})
        return sorted(names)
    return sorted(getattr(broker.metadata, "client_metrics", {}) or {})  # CLIENT_METRICS subscriptions


async def handle(ctx: RequestContext, request: dict) -> dict:
    types = list(request.get("resource_types") or []) if ctx.version >= 1 else [CLIENT_METRICS]
    if any(t not in LISTED for t in types):
        return {"throttle_time_ms": 0, "error_code": ErrorCode.UNSUPPORTED_VERSION, "config_resources": []}
    resources = [{"resource_name": name, "resource_type": rtype}
                 for rtype in (types or LISTED) for name in _names(ctx, rtype)]
    return {"throttle_time_ms": 0, "error_code": 0, "config_resources": resources}
