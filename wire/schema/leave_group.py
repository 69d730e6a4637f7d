"""LeaveGroup (key 13). v0-2 one member id, v3+ a batch of members; v4+ flexible; v5 adds a reason."""
from wire.schema.dsl import api, f

API = api(
    key=13,
    name="LeaveGroup",
    valid=(0, 5),
    flexible=4,
    request=[
        f("group_id", "string"),
        f("member_id", "string", "0-2"),
        f("members", [
            f("member_id", "string", "3+"),
            f("group_instance_id", "string", "3+", nullable="3+", default=None),
            f("reason", "string", "5+", nullable="5+", default=None),
        ], "3+"),
    ],
    response=[
        f("throttle_time_ms", "int32", "1+"),
        f("error_code", "int16"),
        f("members", [
            f("member_id", "string", "3+"),
            f("group_instance_id", "string", "3+", nullable="3+"),
            f("error_code", "int16", "3+"),
        ], "3+"),
    ],
)
