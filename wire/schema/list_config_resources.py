"""ListConfigResources (key 74; v0 was ListClientMetricsResources, KIP-714; v1 lists any resource type,
KIP-1142). Always flexible."""
from wire.schema.dsl import api, f

API = api(
    key=74,
    name="ListConfigResources",
    valid=(0, 1),
    flexible=0,
    request=[
        f("resource_types", "[]int8", "1+"),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("error_code", "int16"),
        f("config_resources", [
            f("resource_name", "string"),
            f("resource_type", "int8", "1+", default=16),
        ]),
    ],
)
