"""InitProducerId (key 22). v2+ flexible, v3 sends the current producer id/epoch; 4.1's response-only v6 is left out."""
from wire.schema.dsl import api, f

API = api(
    key=22,
    name="InitProducerId",
    valid=(0, 5),
    flexible=2,
    request=[
        f("transactional_id", "string", nullable="0+"),
        f("transaction_timeout_ms", "int32"),
        f("producer_id", "int64", "3+", default=-1),
        f("producer_epoch", "int16", "3+", default=-1),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("error_code", "int16"),
        f("producer_id", "int64", default=-1),
        f("producer_epoch", "int16"),
    ],
)
