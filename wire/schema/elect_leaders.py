"""ElectLeaders (key 43). v1 adds election_type and a top-level error_code, v2 is flexible."""
from wire.schema.dsl import api, f

API = api(
    key=43,
    name="ElectLeaders",
    valid=(0, 2),
    flexible=2,
    request=[
        f("election_type", "int8", "1+"),
        f("topic_partitions", [
            f("topic", "string"),
            f("partitions", "[]int32"),
        ], nullable="0+"),
        f("timeout_ms", "int32", default=60000),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("error_code", "int16", "1+"),
        f("replica_election_results", [
            f("topic", "string"),
            f("partition_result", [
                f("partition_id", "int32"),
                f("error_code", "int16"),
                f("error_message", "string", nullable="0+"),
            ]),
        ]),
    ],
)
