"""PushTelemetry (key 72, KIP-714). Single version, flexible."""
from wire.schema.dsl import api, f

API = api(
    key=72,
    name="PushTelemetry",
    valid=(0, 0),
    flexible=0,
    request=[
        f("client_instance_id", "uuid"),
        f("subscription_id", "int32"),
        f("terminating", "bool"),
        f("compression_type", "int8"),
        f("metrics", "bytes"),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("error_code", "int16"),
    ],
)
