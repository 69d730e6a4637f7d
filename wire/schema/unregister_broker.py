"""UnregisterBroker (key 64, KIP-500): remove a broker's registration. Single version, flexible."""
from wire.schema.dsl import api, f

API = api(
    key=64,
    name="UnregisterBroker",
    valid=(0, 0),
    flexible=0,
    request=[
        f("broker_id", "int32"),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("error_code", "int16"),
        f("error_message", "string", nullable="0+", default=None),
    ],
)
