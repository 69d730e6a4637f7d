"""AlterReplicaLogDirs (34), v1–2: move partitions between this broker's log directories.

kbroker keeps every partition in its one data directory (the path DescribeLogDirs reports), so moving a
partition to that directory succeeds at once, as Kafka answers for a partition already there; any other path is
LOG_DIR_NOT_FOUND (checked first), and a partition this broker does not have is UNKNOWN_TOPIC_OR_PARTITION, as
Kafka's ReplicaManager answers.
"""
from __future__ import annotations

import os

from kbroker.handlers.describe_log_dirs import IN_MEMORY_DIR
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 34, 1, 2


def _own_dirs(ctx: RequestContext) -> set[str]:
    data_dir = ctx.broker.logs.data_dir
    if data_dir is None:
        return {IN_MEMORY_DIR}
    return {os.path.abspath(data_dir), os.path.realpath(data_dir)}


def _normalized(path: str) -> str:
    return path if path == IN_MEMORY_DIR else os.path.abspath(path)


async def handle(ctx: RequestContext, request: dict) -> dict:
    own = _own_dirs(ctx)
    results: dict[str, list[dict]] = {}
    for d in request["dirs"]:
        known_dir = _normalized(d["path"]) in own or os.path.realpath(d["path"]) in own
        for t in d["topics"]:
            info = ctx.broker.topic(t["name"])
            for index in t["partitions"]:
                if not known_dir:
                    code = ErrorCode.LOG_DIR_NOT_FOUND
                elif info is None or ctx.broker.partition(t["name"], index) is None:
                    code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                else:
                    code = ErrorCode.NONE
                results.setdefault(t["name"], []).append({"partition_index": index, "error_code": code})
    return {"throttle_time_ms": 0,
            "results": [{"topic_name": name, "partitions": parts} for name, parts in results.items()]}
