"""AlterUserScramCredentials (51), v0: add, replace or delete users' SCRAM-SHA-256 / SCRAM-SHA-512 credentials,
validated as Kafka's controller does (ScramControlManager): a user at most once per request, a known mechanism,
4096..16384 iterations, deletions of existing credentials only. Stored with the cluster metadata."""
from __future__ import annotations

from kbroker.handlers._authz import Operation, allowed_cluster
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 51, 0, 0

MECHANISMS = {1: "SCRAM-SHA-256", 2: "SCRAM-SHA-512"}
MIN_ITERATIONS, MAX_ITERATIONS = 4096, 16384
_TWICE = "A user credential cannot be altered twice in the same request"


def _check_user(name: str, mechanism: int) -> tuple[int, str] | None:
    if not name:
        return ErrorCode.UNACCEPTABLE_CREDENTIAL, "Username must not be empty"
    if mechanism not in MECHANISMS:
        return ErrorCode.UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism"
    return None


async def handle(ctx: RequestContext, request: dict) -> dict:
    if not allowed_cluster(ctx, Operation.ALTER):  # Kafka: ALTER on the cluster
        names = dict.fromkeys([d["name"] for d in request["deletions"]] + [u["name"] for u in request["upsertions"]])
        return {"throttle_time_ms": 0, "results": [{"user": n, "error_code": ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "error_message": None}
                                                   for n in names]}
    metadata = ctx.broker.metadata
    credentials = {user: dict(mechs) for user, mechs in metadata.scram.items()}
    deletions: dict[str, dict] = {}
    upsertions: dict[str, dict] = {}
    errors: dict[str, tuple[int, str]] = {}
    for d in request["deletions"]:
        name = d["name"]
        if name in errors:
            continue
        if deletions.pop(name, None) is not None:
            errors[name] = (ErrorCode.DUPLICATE_RESOURCE, _TWICE)
            continue
        problem = _check_user(name, d["mechanism"])
        if problem is None and d["mechanism"] not in credentials.get(name, {}):
            problem = (ErrorCode.RESOURCE_NOT_FOUND, "Attempt to delete a user credential that does not exist")
        if problem:
            errors[name] = problem
        else:
            deletions[name] = d
    for u in request["upsertions"]:
        name = u["name"]
        if name in errors:
            continue
        if deletions.pop(name, None) is not None or upsertions.pop(name, None) is not None:
            errors[name] = (ErrorCode.DUPLICATE_RESOURCE, _TWICE)
            continue
        problem = _check_user(name, u["mechanism"])
        if problem is None and u["iterations"] < MIN_ITERATIONS:
            problem = (ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too few iterations")
        elif problem is None and u["iterations"] > MAX_ITERATIONS:
            problem = (ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too many iterations")
        if problem:
            errors[name] = problem
        else:
            upsertions[name] = u
    results = []
    for name, d in deletions.items():
        credentials.get(name, {}).pop(d["mechanism"], None)
        results.append({"user": name, "error_code": 0, "error_message": None})
    for name, u in upsertions.items():
        credentials.setdefault(name, {})[u["mechanism"]] = {
            "iterations": u["iterations"], "salt": bytes(u["salt"]).hex(),
            "salted_password": bytes(u["salted_password"]).hex()}
        results.append({"user": name, "error_code": 0, "error_message": None})
    for name, (code, message) in errors.items():
        results.append({"user": name, "error_code": code, "error_message": message})
    if deletions or upsertions:
        metadata.set_scram(credentials)
    return {"throttle_time_ms": 0, "results": results}
