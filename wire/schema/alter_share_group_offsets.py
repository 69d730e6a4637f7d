"""AlterShareGroupOffsets (key 91, KIP-932): set share-partition start offsets of an empty share group."""
from wire.schema.dsl import api, f

API = api(
    key=91,
    name="AlterShareGroupOffsets",
    valid=(0, 0),
    flexible=0,
    request=[
        f("group_id", "string"),
        f("topics", [
            f("topic_name", "string"),
            f("partitions", [
                f("partition_index", "int32"),
                f("start_offset", "int64"),
            ]),
        ]),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("responses", [
            f("topic_name", "string"),
            f("topic_id", "uuid"),
            f("partitions", [
                f("partition_index", "int32"),
                f("error_code", "int16"),
                f("error_message", "string", nullable="0+", default=None),
            ]),
        ]),
    ],
)
