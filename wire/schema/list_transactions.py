"""ListTransactions (key 66). Always flexible; v1 adds duration_filter, v2 transactional_id_pattern."""
from wire.schema.dsl import api, f

API = api(
    key=66,
    name="ListTransactions",
    valid=(0, 2),
    flexible=0,
    request=[
        f("state_filters", "[]string"),
        f("producer_id_filters", "[]int64"),
        f("duration_filter", "int64", "1+", default=-1),
        f("transactional_id_pattern", "string", "2+", nullable="2+", default=None),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("error_code", "int16"),
        f("unknown_state_filters", "[]string"),
        f("transaction_states", [
            f("transactional_id", "string"),
            f("producer_id", "int64"),
            f("transaction_state", "string"),
        ]),
    ],
)
