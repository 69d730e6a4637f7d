"""DescribeClientQuotas (key 48). v1 is flexible."""
from wire.schema.dsl import api, f

API = api(
    key=48,
    name="DescribeClientQuotas",
    valid=(0, 1),
    flexible=1,
    request=[
        f("components", [
            f("entity_type", "string"),
            f("match_type", "int8"),
            f("match", "string", nullable="0+"),
        ]),
        f("strict", "bool"),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("error_code", "int16"),
        f("error_message", "string", nullable="0+"),
        f("entries", [
            f("entity", [
                f("entity_type", "string"),
                f("entity_name", "string", nullable="0+"),
            ]),
            f("values", [
                f("key", "string"),
                f("value", "float64"),
            ]),
        ], nullable="0+"),
    ],
)
