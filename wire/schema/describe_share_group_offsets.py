"""DescribeShareGroupOffsets (key 90, KIP-932): each share-partition's start offset. Always flexible."""
from wire.schema.dsl import api, f

API = api(
    key=90,
    name="DescribeShareGroupOffsets",
    valid=(0, 0),
    flexible=0,
    request=[
        f("groups", [
            f("group_id", "string"),
            f("topics", [
                f("topic_name", "string"),
                f("partitions", "[]int32"),
            ], nullable="0+"),
        ]),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("groups", [
            f("group_id", "string"),
            f("topics", [
                f("topic_name", "string"),
                f("topic_id", "uuid"),
                f("partitions", [
                    f("partition_index", "int32"),
                    f("start_offset", "int64"),
                    f("leader_epoch", "int32"),
                    f("error_code", "int16"),
                    f("error_message", "string", nullable="0+", default=None),
                ]),
            ]),
            f("error_code", "int16"),
            f("error_message", "string", nullable="0+", default=None),
        ]),
    ],
)
