"""ListPartitionReassignments (key 46). Single version, flexible."""
from wire.schema.dsl import api, f

API = api(
    key=46,
    name="ListPartitionReassignments",
    valid=(0, 0),
    flexible=0,
    request=[
        f("timeout_ms", "int32", default=60000),
        f("topics", [
            f("name", "string"),
            f("partition_indexes", "[]int32"),
        ], nullable="0+", default=None),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("error_code", "int16"),
        f("error_message", "string", nullable="0+"),
        f("topics", [
            f("name", "string"),
            f("partitions", [
                f("partition_index", "int32"),
                f("replicas", "[]int32"),
                f("adding_replicas", "[]int32"),
                f("removing_replicas", "[]int32"),
            ]),
        ]),
    ],
)
