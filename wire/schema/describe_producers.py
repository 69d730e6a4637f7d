"""DescribeProducers (key 61). Single version, flexible."""
from wire.schema.dsl import api, f

API = api(
    key=61,
    name="DescribeProducers",
    valid=(0, 0),
    flexible=0,
    request=[
        f("topics", [
            f("name", "string"),
            f("partition_indexes", "[]int32"),
        ]),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("topics", [
            f("name", "string"),
            f("partitions", [
                f("partition_index", "int32"),
                f("error_code", "int16"),
                f("error_message", "string", nullable="0+", default=None),
                f("active_producers", [
                    f("producer_id", "int64"),
                    f("producer_epoch", "int32"),
                    f("last_sequence", "int32", default=-1),
                    f("last_timestamp", "int64", default=-1),
                    f("coordinator_epoch", "int32"),
                    f("current_txn_start_offset", "int64", default=-1),
                ]),
            ]),
        ]),
    ],
)
