"""OffsetForLeaderEpoch (key 23). v2 adds current_leader_epoch, v3 replica_id, v4 flexible; Kafka 4 dropped v0-1."""
from wire.schema.dsl import api, f

API = api(
    key=23,
    name="OffsetForLeaderEpoch",
    valid=(0, 4),
    flexible=4,
    request=[
        f("replica_id", "int32", "3+", default=-2),
        f("topics", [
            f("topic", "string"),
            f("partitions", [
                f("partition", "int32"),
                f("current_leader_epoch", "int32", "2+", default=-1),
                f("leader_epoch", "int32"),
            ]),
        ]),
    ],
    response=[
        f("throttle_time_ms", "int32", "2+"),
        f("topics", [
            f("topic", "string"),
            f("partitions", [
                f("error_code", "int16"),
                f("partition", "int32"),
                f("leader_epoch", "int32", "1+", default=-1),
                f("end_offset", "int64", default=-1),
            ]),
        ]),
    ],
)
