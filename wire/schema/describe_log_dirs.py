"""DescribeLogDirs (key 35). v2+ flexible, v3 adds a top-level error_code, v4 total/usable bytes."""
from wire.schema.dsl import api, f

API = api(
    key=35,
    name="DescribeLogDirs",
    valid=(0, 4),
    flexible=2,
    request=[
        f("topics", [
            f("topic", "string"),
            f("partitions", "[]int32"),
        ], nullable="0+"),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("error_code", "int16", "3+"),
        f("results", [
            f("error_code", "int16"),
            f("log_dir", "string"),
            f("topics", [
                f("name", "string"),
                f("partitions", [
                    f("partition_index", "int32"),
                    f("partition_size", "int64"),
                    f("offset_lag", "int64"),
                    f("is_future_key", "bool"),
                ]),
            ]),
            f("total_bytes", "int64", "4+", default=-1),
            f("usable_bytes", "int64", "4+", default=-1),
        ]),
    ],
)
