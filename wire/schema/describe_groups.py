"""DescribeGroups (key 15). v3 authorized operations; v4 group instance ids; v5+ flexible; v6 a per-group error
message.
"""
from wire.schema.dsl import api, f

API = api(
    key=15,
    name="DescribeGroups",
    valid=(0, 6),
    flexible=5,
    request=[
        f("groups", "[]string"),
        f("include_authorized_operations", "bool", "3+"),
    ],
    response=[
        f("throttle_time_ms", "int32", "1+"),
        f("groups", [
            f("error_code", "int16"),
            f("error_message", "string", "6+", nullable="6+", default=None),
            f("group_id", "string"),
            f("group_state", "string"),
            f("protocol_type", "string"),
            f("protocol_data", "string"),
            f("members", [
                f("member_id", "string"),
                f("group_instance_id", "string", "4+", nullable="4+", default=None),
                f("client_id", "string"),
                f("client_host", "string"),
                f("member_metadata", "bytes"),
                f("member_assignment", "bytes"),
            ]),
            f("authorized_operations", "int32", "3+", default=-2147483648),
        ]),
    ],
)
