"""DeleteRecords (key 21). v2 flexible."""
from wire.schema.dsl import api, f

API = api(
    key=21,
    name="DeleteRecords",
    valid=(0, 2),
    flexible=2,
    request=[
        f("topics", [
            f("name", "string"),
            f("partitions", [
                f("partition_index", "int32"),
                f("offset", "int64"),
            ]),
        ]),
        f("timeout_ms", "int32"),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("topics", [
            f("name", "string"),
            f("partitions", [
                f("partition_index", "int32"),
                f("low_watermark", "int64"),
                f("error_code", "int16"),
            ]),
        ]),
    ],
)
