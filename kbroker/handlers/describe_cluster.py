"""DescribeCluster (60), v0–2: this broker, the cluster id, and itself as controller id (Kafka's brokers answer
with a live broker's id, KRaft controllers not being reachable by clients).

Brokers answer the BROKER endpoint type only: asking for controllers gets MISMATCHED_ENDPOINT_TYPE (v1+,
INVALID_REQUEST in v0), an unknown type UNSUPPORTED_ENDPOINT_TYPE.
"""
from __future__ import annotations

from kbroker.cluster import view
from kbroker.handlers._util import CLUSTER_OPERATIONS, NOT_REQUESTED
from kbroker.handlers._authz import Operation, ResourceType, allowed_cluster, authorized_ops, enabled
from kbroker.handlers import _endpoints as endpoints
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 60, 0, 2

UNKNOWN_ENDPOINT, BROKER_ENDPOINT, CONTROLLER_ENDPOINT = 0, 1, 2
_NAMES = {BROKER_ENDPOINT: "BROKER", CONTROLLER_ENDPOINT: "CONTROLLER"}


def _cluster_ops(ctx: RequestContext) -> int:
    if not enabled(ctx):
        return CLUSTER_OPERATIONS
    return authorized_ops(ctx, ResourceType.CLUSTER, "kafka-cluster") if allowed_cluster(
        ctx, Operation.DESCRIBE) else 0


async def handle(ctx: RequestContext, request: dict) -> dict:
    broker = ctx.broker
    endpoint = request.get("endpoint_type", BROKER_ENDPOINT)
    if endpoint not in _NAMES:
        return {"throttle_time_ms": 0, "cluster_id": "", "brokers": [],
                "error_code": ErrorCode.INVALID_REQUEST if ctx.version == 0 else ErrorCode.UNSUPPORTED_ENDPOINT_TYPE,
                "error_message": f"Unsupported endpoint type {endpoint}"}
    if endpoint != BROKER_ENDPOINT:
        return {"throttle_time_ms": 0, "cluster_id": "", "brokers": [],
                "error_code": ErrorCode.INVALID_REQUEST if ctx.version == 0 else ErrorCode.MISMATCHED_ENDPOINT_TYPE,
                "error_message": "The request was sent to an endpoint of type BROKER, but we wanted an endpoint "
                                 f"of type {_NAMES[endpoint]}"}
    return {
        "throttle_time_ms": 0,
        "error_code": 0,
        "error_message": None,
        "endpoint_type": BROKER_ENDPOINT,
        "cluster_id": broker.metadata.cluster_id,
        "controller_id": view.controller_id(broker),
        "brokers": [{"broker_id": n.node_id, "host": n.host, "port": n.port, "rack": n.rack, "is_fenced": False}
                    for n in endpoints.brokers(ctx)],
        "cluster_authorized_operations": _cluster_ops(ctx) if request["include_cluster_authorized_operations"]
        else NOT_REQUESTED,
    }
