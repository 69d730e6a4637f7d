"""CreateAcls (key 30). v1 adds resource_pattern_type, v2+ flexible; Kafka 4 dropped v0."""
from wire.schema.dsl import api, f

API = api(
    key=30,
    name="CreateAcls",
    valid=(0, 3),
    flexible=2,
    request=[
        f("creations", [
            f("resource_type", "int8"),
            f("resource_name", "string"),
            f("resource_pattern_type", "int8", "1+", default=3),
            f("principal", "string"),
            f("host", "string"),
            f("operation", "int8"),
            f("permission_type", "int8"),
        ]),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("results", [
            f("error_code", "int16"),
            f("error_message", "string", nullable="0+"),
        ]),
    ],
)
