"""CreatePartitions (key 37). Same fields throughout; v2+ flexible."""
from wire.schema.dsl import api, f

API = api(
    key=37,
    name="CreatePartitions",
    valid=(0, 3),
    flexible=2,
    request=[
        f("topics", [
            f("name", "string"),
            f("count", "int32"),
            f("assignments", [
                f("broker_ids", "[]int32"),
            ], nullable="0+"),
        ]),
        f("timeout_ms", "int32"),
        f("validate_only", "bool"),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("results", [
            f("name", "string"),
            f("error_code", "int16"),
            f("error_message", "string", nullable="0+", default=None),
        ]),
    ],
)
