"""CreateAcls (30), v0–3: with an authorizer (authorizer.class.name), each binding is validated as Kafka's
AclControlManager does and stored; the principal needs ALTER on the cluster. Without one: SECURITY_DISABLED."""
from __future__ import annotations

from kbroker.handlers._authz import Operation, allowed_cluster
from kbroker.security.acl import AclBinding, PatternType, Permission, ResourceType, creation_problem
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 30, 0, 3


def _enum(kind, value: int):  # type: ignore[no-untyped-def]
    try:
        return kind(value)
    except ValueError:
        return kind(0)


def binding(c: dict) -> AclBinding:
    return AclBinding(_enum(ResourceType, c["resource_type"]), c["resource_name"],
                      _enum(PatternType, c.get("resource_pattern_type", 3)), c["principal"], c["host"],
                      _enum(Operation, c["operation"]), _enum(Permission, c["permission_type"]))


async def handle(ctx: RequestContext, request: dict) -> dict:
    authorizer = ctx.broker.security.authorizer
    if authorizer is None:
        return {"throttle_time_ms": 0,
                "results": [{"error_code": ErrorCode.SECURITY_DISABLED, "error_message": "No Authorizer is configured."}
                            for _ in request["creations"]]}
    if not allowed_cluster(ctx, Operation.ALTER):
        return {"throttle_time_ms": 0,
                "results": [{"error_code": ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
                             "error_message": "Cluster authorization failed."} for _ in request["creations"]]}
    results, valid = [], []
    for c in request["creations"]:
        acl = binding(c)
        problem = creation_problem(acl)
        if problem:
            results.append({"error_code": ErrorCode.INVALID_REQUEST, "error_message": problem})
        else:
            valid.append(acl)
            results.append({"error_code": 0, "error_message": None})
    if valid:
        authorizer.create(valid)
    return {"throttle_time_ms": 0, "results": results}
