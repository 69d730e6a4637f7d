"""DescribeUserScramCredentials (50), v0: the SCRAM mechanisms and iteration counts stored for users (by
AlterUserScramCredentials), as Kafka's metadata image answers: all users when none are named, RESOURCE_NOT_FOUND
for a named user without credentials, DUPLICATE_RESOURCE for a user named twice. kbroker stores credentials
but authenticates nobody (plain-text listener only)."""
from __future__ import annotations

from collections import Counter

from kbroker.handlers._authz import Operation, allowed_cluster
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 50, 0, 0


async def handle(ctx: RequestContext, request: dict) -> dict:
    if not allowed_cluster(ctx, Operation.DESCRIBE):  # Kafka: DESCRIBE on the cluster
        return {"throttle_time_ms": 0, "error_code": ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "error_message": None, "results": []}
    scram = ctx.broker.metadata.scram
    users = request["users"]
    if not users:
        names = {u: 1 for u in scram}
    else:
        names = Counter(u["name"] for u in users)
    results = []
    for user, count in names.items():
        entry = {"user": user, "error_code": 0, "error_message": None, "credential_infos": []}
        if count > 1:
            entry["error_code"] = ErrorCode.DUPLICATE_RESOURCE
            entry["error_message"] = f"Cannot describe SCRAM credentials for the same user twice in a single request: {user}"
        elif user not in scram:
            entry["error_code"] = ErrorCode.RESOURCE_NOT_FOUND
            entry["error_message"] = f"Attempt to describe a user credential that does not exist: {user}"
        else:
            entry["credential_infos"] = [{"mechanism": m, "iterations": c["iterations"]}
                                         for m, c in sorted(scram[user].items())]
        results.append(entry)
    return {"throttle_time_ms": 0, "error_code": 0, "error_message": None, "results": results}
