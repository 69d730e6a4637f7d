"""ConsumerGroupHeartbeat (key 68, KIP-848). Always flexible; v1 adds subscribed_topic_regex."""
from wire.schema.dsl import Struct, api, f

TOPIC_PARTITIONS = [
    f("topic_id", "uuid"),
    f("partitions", "[]int32"),
]

API = api(
    key=68,
    name="ConsumerGroupHeartbeat",
    valid=(0, 1),
    flexible=0,
    request=[
        f("group_id", "string"),
        f("member_id", "string"),
        f("member_epoch", "int32"),
        f("instance_id", "string", nullable="0+", default=None),
        f("rack_id", "string", nullable="0+", default=None),
        f("rebalance_timeout_ms", "int32", default=-1),
        f("subscribed_topic_names", "[]string", nullable="0+", default=None),
        f("subscribed_topic_regex", "string", "1+", nullable="1+", default=None),
        f("server_assignor", "string", nullable="0+", default=None),
        f("topic_partitions", [
            f("topic_id", "uuid"),
            f("partitions", "[]int32"),
        ], nullable="0+", default=None),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("error_code", "int16"),
        f("error_message", "string", nullable="0+", default=None),
        f("member_id", "string", nullable="0+", default=None),
        f("member_epoch", "int32"),
        f("heartbeat_interval_ms", "int32"),
        f("assignment", Struct([
            f("topic_partitions", TOPIC_PARTITIONS),
        ]), nullable="0+", default=None),
    ],
)
