"""ListOffsets (key 2). v0 alone carries max_num_offsets and the old offsets array; v2 isolation level; v6+ flexible;
v10 adds a timeout.
"""
from wire.schema.dsl import api, f

API = api(
    key=2,
    name="ListOffsets",
    valid=(0, 10),
    flexible=6,
    request=[
        f("replica_id", "int32"),
        f("isolation_level", "int8", "2+"),
        f("topics", [
            f("name", "string"),
            f("partitions", [
                f("partition_index", "int32"),
                f("current_leader_epoch", "int32", "4+", default=-1),
                f("timestamp", "int64"),
                f("max_num_offsets", "int32", "0", default=1),
            ]),
        ]),
        f("timeout_ms", "int32", "10+"),
    ],
    response=[
        f("throttle_time_ms", "int32", "2+"),
        f("topics", [
            f("name", "string"),
            f("partitions", [
                f("partition_index", "int32"),
                f("error_code", "int16"),
                f("old_style_offsets", "[]int64", "0"),
                f("timestamp", "int64", "1+", default=-1),
                f("offset", "int64", "1+", default=-1),
                f("leader_epoch", "int32", "4+", default=-1),
            ]),
        ]),
    ],
)
