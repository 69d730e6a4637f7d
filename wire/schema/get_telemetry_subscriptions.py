"""GetTelemetrySubscriptions (key 71, KIP-714). Single version, flexible."""
from wire.schema.dsl import api, f

API = api(
    key=71,
    name="GetTelemetrySubscriptions",
    valid=(0, 0),
    flexible=0,
    request=[
        f("client_instance_id", "uuid"),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("error_code", "int16"),
        f("client_instance_id", "uuid"),
        f("subscription_id", "int32"),
        f("accepted_compression_types", "[]int8"),
        f("push_interval_ms", "int32"),
        f("telemetry_max_bytes", "int32"),
        f("delta_temporality", "bool"),
        f("requested_metrics", "[]string"),
    ],
)
