"""DescribeTopicPartitions (key 75). Single version, flexible; paged by a nullable cursor struct."""
from wire.schema.dsl import Struct, api, f

API = api(
    key=75,
    name="DescribeTopicPartitions",
    valid=(0, 0),
    flexible=0,
    request=[
        f("topics", [
            f("name", "string"),
        ]),
        f("response_partition_limit", "int32", default=2000),
        f("cursor", Struct([
            f("topic_name", "string"),
            f("partition_index", "int32"),
        ]), nullable="0+", default=None),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("topics", [
            f("error_code", "int16"),
            f("name", "string", nullable="0+"),
            f("topic_id", "uuid"),
            f("is_internal", "bool", default=False),
            f("partitions", [
                f("error_code", "int16"),
                f("partition_index", "int32"),
                f("leader_id", "int32"),
                f("leader_epoch", "int32", default=-1),
                f("replica_nodes", "[]int32"),
                f("isr_nodes", "[]int32"),
                f("eligible_leader_replicas", "[]int32", nullable="0+", default=None),
                f("last_known_elr", "[]int32", nullable="0+", default=None),
                f("offline_replicas", "[]int32"),
            ]),
            f("topic_authorized_operations", "int32", default=-2147483648),
        ]),
        f("next_cursor", Struct([
            f("topic_name", "string"),
            f("partition_index", "int32"),
        ]), nullable="0+", default=None),
    ],
)
