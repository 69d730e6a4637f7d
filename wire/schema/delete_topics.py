"""DeleteTopics (key 20). v0-5 take topic names, v6 topics by name or id; v4+ flexible."""
from wire.schema.dsl import api, f

API = api(
    key=20,
    name="DeleteTopics",
    valid=(0, 6),
    flexible=4,
    request=[
        f("topics", [
            f("name", "string", "6+", nullable="6+", default=None),
            f("topic_id", "uuid", "6+"),
        ], "6+"),
        f("topic_names", "[]string", "0-5"),
        f("timeout_ms", "int32"),
    ],
    response=[
        f("throttle_time_ms", "int32", "1+"),
        f("responses", [
            f("name", "string", nullable="6+"),
            f("topic_id", "uuid", "6+"),
            f("error_code", "int16"),
            f("error_message", "string", "5+", nullable="5+", default=None),
        ]),
    ],
)
