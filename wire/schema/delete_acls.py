"""DeleteAcls (key 31). v1 adds pattern types, v2+ flexible; Kafka 4 dropped v0."""
from wire.schema.dsl import api, f

API = api(
    key=31,
    name="DeleteAcls",
    valid=(0, 3),
    flexible=2,
    request=[
        f("filters", [
            f("resource_type_filter", "int8"),
            f("resource_name_filter", "string", nullable="0+"),
            f("pattern_type_filter", "int8", "1+", default=3),
            f("principal_filter", "string", nullable="0+"),
            f("host_filter", "string", nullable="0+"),
            f("operation", "int8"),
            f("permission_type", "int8"),
        ]),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("filter_results", [
            f("error_code", "int16"),
            f("error_message", "string", nullable="0+"),
            f("matching_acls", [
                f("error_code", "int16"),
                f("error_message", "string", nullable="0+"),
                f("resource_type", "int8"),
                f("resource_name", "string"),
                f("pattern_type", "int8", "1+", default=3),
                f("principal", "string"),
                f("host", "string"),
                f("operation", "int8"),
                f("permission_type", "int8"),
            ]),
        ]),
    ],
)
