"""ListGroups (key 16). v3+ flexible; v4 filters by state, v5 by type."""
from wire.schema.dsl import api, f

API = api(
    key=16,
    name="ListGroups",
    valid=(0, 5),
    flexible=3,
    request=[
        f("states_filter", "[]string", "4+"),
        f("types_filter", "[]string", "5+"),
    ],
    response=[
        f("throttle_time_ms", "int32", "1+"),
        f("error_code", "int16"),
        f("groups", [
            f("group_id", "string"),
            f("protocol_type", "string"),
            f("group_state", "string", "4+"),
            f("group_type", "string", "5+"),
        ]),
    ],
)
