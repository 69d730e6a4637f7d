"""IncrementalAlterConfigs (key 44). v1 is flexible."""
from wire.schema.dsl import api, f

API = api(
    key=44,
    name="IncrementalAlterConfigs",
    valid=(0, 1),
    flexible=1,
    request=[
        f("resources", [
            f("resource_type", "int8"),
            f("resource_name", "string"),
            f("configs", [
                f("name", "string"),
                f("config_operation", "int8"),
                f("value", "string", nullable="0+"),
            ]),
        ]),
        f("validate_only", "bool"),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("responses", [
            f("error_code", "int16"),
            f("error_message", "string", nullable="0+"),
            f("resource_type", "int8"),
            f("resource_name", "string"),
        ]),
    ],
)
