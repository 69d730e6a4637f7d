"""EndTxn (key 26). v3+ flexible; the v5 response carries the bumped producer id and epoch."""
from wire.schema.dsl import api, f

API = api(
    key=26,
    name="EndTxn",
    valid=(0, 5),
    flexible=3,
    request=[
        f("transactional_id", "string"),
        f("producer_id", "int64"),
        f("producer_epoch", "int16"),
        f("committed", "bool"),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("error_code", "int16"),
        f("producer_id", "int64", "5+", default=-1),
        f("producer_epoch", "int16", "5+", default=-1),
    ],
)
