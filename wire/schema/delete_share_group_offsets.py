"""DeleteShareGroupOffsets (key 92, KIP-932): forget an empty share group's state for whole topics."""
from wire.schema.dsl import api, f

API = api(
    key=92,
    name="DeleteShareGroupOffsets",
    valid=(0, 0),
    flexible=0,
    request=[
        f("group_id", "string"),
        f("topics", [
            f("topic_name", "string"),
        ]),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("error_code", "int16"),
        f("error_message", "string", nullable="0+", default=None),
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
