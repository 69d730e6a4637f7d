"""FindCoordinator (key 10). v0-3 look up one key, v4+ several (batched); v3+ flexible."""
from wire.schema.dsl import api, f

API = api(
    key=10,
    name="FindCoordinator",
    valid=(0, 6),
    flexible=3,
    request=[
        f("key", "string", "0-3"),
        f("key_type", "int8", "1+", default=0),
        f("coordinator_keys", "[]string", "4+"),
    ],
    response=[
        f("throttle_time_ms", "int32", "1+"),
        f("error_code", "int16", "0-3"),
        f("error_message", "string", "1-3", nullable="1-3"),
        f("node_id", "int32", "0-3"),
        f("host", "string", "0-3"),
        f("port", "int32", "0-3"),
        f("coordinators", [
            f("key", "string", "4+"),
            f("node_id", "int32", "4+"),
            f("host", "string", "4+"),
            f("port", "int32", "4+"),
            f("error_code", "int16", "4+"),
            f("error_message", "string", "4+", nullable="4+"),
        ], "4+"),
    ],
)
