"""DescribeAcls (key 29). v1 adds pattern types, v2+ flexible; Kafka 4 dropped v0."""
from wire.schema.dsl import api, f

API = api(
    key=29,
    name="DescribeAcls",
    valid=(0, 3),
    flexible=2,
    request=[
        f("resource_type_filter", "int8"),
        f("resource_name_filter", "string", nullable="0+"),
        f("pattern_type_filter", "int8", "1+", default=3),
        f("principal_filter", "string", nullable="0+"),
        f("host_filter", "string", nullable="0+"),
        f("operation", "int8"),
        f("permission_type", "int8"),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("error_code", "int16"),
        f("error_message", "string", nullable="0+"),
        f("resources", [
            f("resource_type", "int8"),
            f("resource_name", "string"),
            f("pattern_type", "int8", "1+", default=3),
            f("acls", [
                f("principal", "string"),
                f("host", "string"),
                f("operation", "int8"),
                f("permission_type", "int8"),
            ]),
        ]),
    ],
)
