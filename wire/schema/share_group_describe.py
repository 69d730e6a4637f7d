"""ShareGroupDescribe (key 77, KIP-932). Always flexible; v1 is the stable version (v0 was early access)."""
from wire.schema.dsl import Struct, api, f

API = api(
    key=77,
    name="ShareGroupDescribe",
    valid=(1, 1),
    flexible=1,
    request=[
        f("group_ids", "[]string"),
        f("include_authorized_operations", "bool"),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("groups", [
            f("error_code", "int16"),
            f("error_message", "string", nullable="1+", default=None),
            f("group_id", "string"),
            f("group_state", "string"),
            f("group_epoch", "int32"),
            f("assignment_epoch", "int32"),
            f("assignor_name", "string"),
            f("members", [
                f("member_id", "string"),
                f("rack_id", "string", nullable="1+", default=None),
                f("member_epoch", "int32"),
                f("client_id", "string"),
                f("client_host", "string"),
                f("subscribed_topic_names", "[]string"),
                f("assignment", Struct([
                    f("topic_partitions", [
                        f("topic_id", "uuid"),
                        f("topic_name", "string"),
                        f("partitions", "[]int32"),
                    ]),
                ])),
            ]),
            f("authorized_operations", "int32", default=-2147483648),
        ]),
    ],
)
