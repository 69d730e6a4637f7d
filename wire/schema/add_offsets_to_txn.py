"""AddOffsetsToTxn (key 25). v3+ flexible; v4 differs only in the errors returned."""
from wire.schema.dsl import api, f

API = api(
    key=25,
    name="AddOffsetsToTxn",
    valid=(0, 4),
    flexible=3,
    request=[
        f("transactional_id", "string"),
        f("producer_id", "int64"),
        f("producer_epoch", "int16"),
        f("group_id", "string"),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("error_code", "int16"),
    ],
)
