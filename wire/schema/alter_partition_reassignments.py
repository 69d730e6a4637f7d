"""AlterPartitionReassignments (key 45). Always flexible; v1 adds allow_replication_factor_change."""
from wire.schema.dsl import api, f

API = api(
    key=45,
    name="AlterPartitionReassignments",
    valid=(0, 1),
    flexible=0,
    request=[
        f("timeout_ms", "int32", default=60000),
        f("allow_replication_factor_change", "bool", "1+", default=True),
        f("topics", [
            f("name", "string"),
            f("partitions", [
                f("partition_index", "int32"),
                f("replicas", "[]int32", nullable="0+", default=None),
            ]),
        ]),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("allow_replication_factor_change", "bool", "1+", default=True),
        f("error_code", "int16"),
        f("error_message", "string", nullable="0+"),
        f("responses", [
            f("name", "string"),
            f("partitions", [
                f("partition_index", "int32"),
                f("error_code", "int16"),
                f("error_message", "string", nullable="0+"),
            ]),
        ]),
    ],
)
