"""AlterReplicaLogDirs (key 34). v0 was removed in Kafka 4.0 (v1 is the same); v2 is flexible."""
from wire.schema.dsl import api, f

API = api(
    key=34,
    name="AlterReplicaLogDirs",
    valid=(0, 2),
    flexible=2,
    request=[
        f("dirs", [
            f("path", "string"),
            f("topics", [
                f("name", "string"),
                f("partitions", "[]int32"),
            ]),
        ]),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("results", [
            f("topic_name", "string"),
            f("partitions", [
                f("partition_index", "int32"),
                f("error_code", "int16"),
            ]),
        ]),
    ],
)
