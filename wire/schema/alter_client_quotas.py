"""AlterClientQuotas (key 49). v1 is flexible."""
from wire.schema.dsl import api, f

API = api(
    key=49,
    name="AlterClientQuotas",
    valid=(0, 1),
    flexible=1,
    request=[
        f("entries", [
            f("entity", [
                f("entity_type", "string"),
                f("entity_name", "string", nullable="0+"),
            ]),
            f("ops", [
                f("key", "string"),
                f("value", "float64"),
                f("remove", "bool"),
            ]),
        ]),
        f("validate_only", "bool"),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("entries", [
            f("error_code", "int16"),
            f("error_message", "string", nullable="0+"),
            f("entity", [
                f("entity_type", "string"),
                f("entity_name", "string", nullable="0+"),
            ]),
        ]),
    ],
)
