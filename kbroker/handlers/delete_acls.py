"""DeleteAcls (31), v0–3: removes the ACLs each filter matches and lists them; ALTER on the cluster is required.
Without an authorizer, every filter fails with SECURITY_DISABLED, as in Kafka."""
from __future__ import annotations

from kbroker.handlers._authz import Operation, allowed_cluster
from kbroker.handlers.describe_acls import acl_filter
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 31, 0, 3


def _failed(code: int, message: str) -> dict:
    return {"error_code": code, "error_message": message, "matching_acls": []}


async def handle(ctx: RequestContext, request: dict) -> dict:
    authorizer = ctx.broker.security.authorizer
    if authorizer is None:
        return {"throttle_time_ms": 0, "filter_results": [_failed(ErrorCode.SECURITY_DISABLED,
                                                                  "No Authorizer is configured.")
                                                          for _ in request["filters"]]}
    if not allowed_cluster(ctx, Operation.ALTER):
        return {"throttle_time_ms": 0, "filter_results": [_failed(ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
                                                                  "Cluster authorization failed.")
                                                          for _ in request["filters"]]}
    results = []
    for r in request["filters"]:
        flt = acl_filter(r)
        if flt is None:
            results.append(_failed(ErrorCode.INVALID_REQUEST, "The filter has unknown elements."))
            continue
        deleted = authorizer.delete(flt)
        results.append({"error_code": 0, "error_message": None, "matching_acls": [
            {"error_code": 0, "error_message": None, "resource_type": int(a.resource_type),
             "resource_name": a.name, "pattern_type": int(a.pattern_type), "principal": a.principal,
             "host": a.host, "operation": int(a.operation), "permission_type": int(a.permission)}
            for a in deleted]})
    return {"throttle_time_ms": 0, "filter_results": results}
