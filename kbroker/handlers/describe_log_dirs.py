"""DescribeLogDirs (35), v0–4: the data directory with the size of each partition in it (offset lag 0: the
leader is its own only replica), and (v4) the file system's total and usable bytes. topics null asks for every
partition; partitions that do not exist are left out, as are topics with none left. In memory (--in-memory)
the one "log dir" is reported as `kbroker-in-memory` with total and usable bytes -1.
"""
from __future__ import annotations

import os
import shutil

from kbroker.handlers._authz import Operation, allowed_cluster
from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 35, 0, 4

IN_MEMORY_DIR = "kbroker-in-memory"


def _space(path: str) -> tuple[int, int]:
    try:
        usage = shutil.disk_usage(path)
        return usage.total, usage.free
    except OSError:
        return -1, -1


async def handle(ctx: RequestContext, request: dict) -> dict:
    if not allowed_cluster(ctx, Operation.DESCRIBE):  # Kafka: DESCRIBE on the cluster
        return {"throttle_time_ms": 0, "error_code": ErrorCode.CLUSTER_AUTHORIZATION_FAILED, "results": []}
    broker = ctx.broker
    data_dir = broker.logs.data_dir
    wanted: dict[str, set[int]] | None = None
    if request["topics"] is not None:
        wanted = {}
        for t in request["topics"]:
            wanted.setdefault(t["topic"], set()).update(t["partitions"])
    by_topic: dict[str, list[dict]] = {}
    for (topic, index), partition in sorted(broker.partitions.items()):
        if wanted is not None and index not in wanted.get(topic, ()):
            continue
        by_topic.setdefault(topic, []).append({"partition_index": index, "partition_size": partition.log.size_bytes,
                                               "offset_lag": 0, "is_future_key": False})
    if data_dir is None:
        log_dir, (total, usable) = IN_MEMORY_DIR, (-1, -1)
    else:
        log_dir = os.path.abspath(data_dir)
        total, usable = _space(log_dir)
    result = {"error_code": 0, "log_dir": log_dir, "total_bytes": total, "usable_bytes": usable,
              "topics": [{"name": name, "partitions": parts} for name, parts in by_topic.items()]}
    return {"throttle_time_ms": 0, "error_code": 0, "results": [result]}
