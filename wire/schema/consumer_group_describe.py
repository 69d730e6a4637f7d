"""ConsumerGroupDescribe (key 69, KIP-848). Always flexible; v1 adds each member's member_type."""
from wire.schema.dsl import Struct, api, f

TOPIC_PARTITIONS = [
    f("topic_id", "uuid"),
    f("topic_name", "string"),
    f("partitions", "[]int32"),
]

ASSIGNMENT = [
    f("topic_partitions", TOPIC_PARTITIONS),
]

API = api(
    key=69,
    name="ConsumerGroupDescribe",
    valid=(0, 1),
    flexible=0,
    request=[
        f("group_ids", "[]string"),
        f("include_authorized_operations", "bool"),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("groups", [
            f("error_code", "int16"),
            f("error_message", "string", nullable="0+", default=None),
            f("group_id", "string"),
            f("group_state", "string"),
            f("group_epoch", "int32"),
            f("assignment_epoch", "int32"),
            f("assignor_name", "string"),
            f("members", [
                f("member_id", "string"),
                f("instance_id", "string", nullable="0+", default=None),
                f("rack_id", "string", nullable="0+", default=None),
                f("member_epoch", "int32"),
                f("client_id", "string"),
                f("client_host", "string"),
                f("subscribed_topic_names", "[]string"),
                f("subscribed_topic_regex", "string", nullable="0+", default=None),
                f("assignment", Struct(ASSIGNMENT)),
                f("target_assignment", Struct(ASSIGNMENT)),
                f("member_type", "int8", "1+", default=-1),
            ]),
            f("authorized_operations", "int32", default=-2147483648),
        ]),
    ],
)
