"""DescribeAcls (29), v0–3: the ACLs matching the filter, grouped by resource pattern; DESCRIBE on the cluster is
required. Without an authorizer (authorizer.class.name unset), SECURITY_DISABLED, as Kafka answers."""
from __future__ import annotations

from kbroker.handlers._authz import Operation, allowed_cluster
from kbroker.security.acl import AclFilter, PatternType, Permission, ResourceType
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 29, 0, 3


def acl_filter(r: dict) -> AclFilter | None:
    """The request's filter; None when one of its codes is unknown (Kafka: INVALID_REQUEST)."""
    try:
        flt = AclFilter(ResourceType(r["resource_type_filter"]), r["resource_name_filter"],
                        PatternType(r.get("pattern_type_filter", 3)), r["principal_filter"], r["host_filter"],
                        Operation(r["operation"]), Permission(r["permission_type"]))
    except ValueError:
        return None
    if ResourceType.UNKNOWN in (flt.resource_type,) or flt.pattern_type == PatternType.UNKNOWN or \
            flt.operation == Operation.UNKNOWN or flt.permission == Permission.UNKNOWN:
        return None
    return flt


async def handle(ctx: RequestContext, request: dict) -> dict:
    authorizer = ctx.broker.security.authorizer
    if authorizer is None:
        return {"throttle_time_ms": 0, "error_code": ErrorCode.SECURITY_DISABLED,
                "error_message": "No Authorizer is configured on the broker", "resources": []}
    if not allowed_cluster(ctx, Operation.DESCRIBE):
        return {"throttle_time_ms": 0, "error_code": ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
                "error_message": "Cluster authorization failed.", "resources": []}
    flt = acl_filter(request)
    if flt is None:
        return {"throttle_time_ms": 0, "error_code": ErrorCode.INVALID_REQUEST,
                "error_message": "The filter has unknown elements.", "resources": []}
    groups: dict[tuple, list[dict]] = {}
    for acl in authorizer.describe(flt):
        groups.setdefault((int(acl.resource_type), acl.name, int(acl.pattern_type)), []).append(
            {"principal": acl.principal, "host": acl.host, "operation": int(acl.operation),
             "permission_type": int(acl.permission)})
    return {"throttle_time_ms": 0, "error_code": 0, "error_message": None,
            "resources": [{"resource_type": t, "resource_name": n, "pattern_type": p, "acls": acls}
                          for (t, n, p), acls in groups.items()]}
