"""DescribeQuorum (key 55, KIP-595/836/853). Always flexible. v1 adds the replicas' fetch timestamps, v2 error
messages, directory ids and the voters' endpoints (Nodes)."""
from wire.schema.dsl import api, f

REPLICA_STATE = [
    f("replica_id", "int32"),
    f("replica_directory_id", "uuid", "2+"),
    f("log_end_offset", "int64"),
    f("last_fetch_timestamp", "int64", "1+", default=-1),
    f("last_caught_up_timestamp", "int64", "1+", default=-1),
]

API = api(
    key=55,
    name="DescribeQuorum",
    valid=(0, 2),
    flexible=0,
    request=[
        f("topics", [
            f("topic_name", "string"),
            f("partitions", [
                f("partition_index", "int32"),
            ]),
        ]),
    ],
    response=[
        f("error_code", "int16"),
        f("error_message", "string", "2+", nullable="2+", default=None),
        f("topics", [
            f("topic_name", "string"),
            f("partitions", [
                f("partition_index", "int32"),
                f("error_code", "int16"),
                f("error_message", "string", "2+", nullable="2+", default=None),
                f("leader_id", "int32"),
                f("leader_epoch", "int32"),
                f("high_watermark", "int64"),
                f("current_voters", REPLICA_STATE),
                f("observers", REPLICA_STATE),
            ]),
        ]),
        f("nodes", [
            f("node_id", "int32"),
            f("listeners", [
                f("name", "string"),
                f("host", "string"),
                f("port", "uint16"),
            ]),
        ], "2+"),
    ],
)
