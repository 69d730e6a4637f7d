"""Heartbeat (key 12). v3 static membership; v4 flexible."""
from wire.schema.dsl import api, f

API = api(
    key=12,
    name="Heartbeat",
    valid=(0, 4),
    flexible=4,
    request=[
        f("group_id", "string"),
        f("generation_id", "int32"),
        f("member_id", "string"),
        f("group_instance_id", "string", "3+", nullable="3+", default=None),
    ],
    response=[
        f("throttle_time_ms", "int32", "1+"),
        f("error_code", "int16"),
    ],
)
