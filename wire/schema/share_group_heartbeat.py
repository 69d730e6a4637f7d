"""ShareGroupHeartbeat (key 76, KIP-932). Always flexible. v0 was Kafka 4.0's early access and is gone since
4.1; v1 is the stable version (no rebalance timeout: share groups have no revocation phase)."""
from wire.schema.dsl import Struct, api, f

API = api(
    key=76,
    name="ShareGroupHeartbeat",
    valid=(1, 1),
    flexible=0,
    request=[
        f("group_id", "string"),
        f("member_id", "string"),
        f("member_epoch", "int32"),
        f("rack_id", "string", nullable="0+", default=None),
        f("subscribed_topic_names", "[]string", nullable="0+", default=None),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("error_code", "int16"),
        f("error_message", "string", nullable="0+", default=None),
        f("member_id", "string", nullable="0+", default=None),
        f("member_epoch", "int32"),
        f("heartbeat_interval_ms", "int32"),
        f("assignment", Struct([
            f("topic_partitions", [
                f("topic_id", "uuid"),
                f("partitions", "[]int32"),
            ]),
        ]), nullable="0+", default=None),
    ],
)
