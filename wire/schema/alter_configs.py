"""AlterConfigs (key 33). Same fields in every version; v2 is flexible."""
from wire.schema.dsl import api, f

API = api(
    key=33,
    name="AlterConfigs",
    valid=(0, 2),
    flexible=2,
    request=[
        f("resources", [
            f("resource_type", "int8"),
            f("resource_name", "string"),
            f("configs", [
                f("name", "string"),
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
