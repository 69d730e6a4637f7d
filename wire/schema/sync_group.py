"""SyncGroup (key 14). v3 static membership; v4+ flexible; v5 protocol type and name."""
from wire.schema.dsl import api, f

API = api(
    key=14,
    name="SyncGroup",
    valid=(0, 5),
    flexible=4,
    request=[
        f("group_id", "string"),
        f("generation_id", "int32"),
        f("member_id", "string"),
        f("group_instance_id", "string", "3+", nullable="3+", default=None),
        f("protocol_type", "string", "5+", nullable="5+", default=None),
        f("protocol_name", "string", "5+", nullable="5+", default=None),
        f("assignments", [
            f("member_id", "string"),
            f("assignment", "bytes"),
        ]),
    ],
    response=[
        f("throttle_time_ms", "int32", "1+"),
        f("error_code", "int16"),
        f("protocol_type", "string", "5+", nullable="5+", default=None),
        f("protocol_name", "string", "5+", nullable="5+", default=None),
        f("assignment", "bytes"),
    ],
)
