"""TxnOffsetCommit (key 28). v2 adds committed_leader_epoch, v3 member fields and flexible encoding; v4-5 alike."""
from wire.schema.dsl import api, f

API = api(
    key=28,
    name="TxnOffsetCommit",
    valid=(0, 5),
    flexible=3,
    request=[
        f("transactional_id", "string"),
        f("group_id", "string"),
        f("producer_id", "int64"),
        f("producer_epoch", "int16"),
        f("generation_id", "int32", "3+", default=-1),
        f("member_id", "string", "3+", default=""),
        f("group_instance_id", "string", "3+", nullable="3+", default=None),
        f("topics", [
            f("name", "string"),
            f("partitions", [
                f("partition_index", "int32"),
                f("committed_offset", "int64"),
                f("committed_leader_epoch", "int32", "2+", default=-1),
                f("committed_metadata", "string", nullable="0+"),
            ]),
        ]),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("topics", [
            f("name", "string"),
            f("partitions", [
                f("partition_index", "int32"),
                f("error_code", "int16"),
            ]),
        ]),
    ],
)
