"""DeleteGroups (key 42). Same fields throughout; v2 is flexible."""
from wire.schema.dsl import api, f

API = api(
    key=42,
    name="DeleteGroups",
    valid=(0, 2),
    flexible=2,
    request=[
        f("groups_names", "[]string"),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("results", [
            f("group_id", "string"),
            f("error_code", "int16"),
        ]),
    ],
)
