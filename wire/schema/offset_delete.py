"""OffsetDelete (key 47). Single version, never flexible."""
from wire.schema.dsl import api, f

API = api(
    key=47,
    name="OffsetDelete",
    valid=(0, 0),
    flexible=None,
    request=[
        f("group_id", "string"),
        f("topics", [
            f("name", "string"),
            f("partitions", [
                f("partition_index", "int32"),
            ]),
        ]),
    ],
    response=[
        f("error_code", "int16"),
        f("throttle_time_ms", "int32"),
        f("topics", [
            f("name", "string"),
            f("partitions", [
                f("partition_index", "int32"),
                f("error_code", "int16"),
            ]),
        ]),
    ],
)
