"""DescribeTransactions (key 65). Single version, flexible."""
from wire.schema.dsl import api, f

API = api(
    key=65,
    name="DescribeTransactions",
    valid=(0, 0),
    flexible=0,
    request=[
        f("transactional_ids", "[]string"),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("transaction_states", [
            f("error_code", "int16"),
            f("transactional_id", "string"),
            f("transaction_state", "string"),
            f("transaction_timeout_ms", "int32"),
            f("transaction_start_time_ms", "int64"),
            f("producer_id", "int64"),
            f("producer_epoch", "int16"),
            f("topics", [
                f("topic", "string"),
                f("partitions", "[]int32"),
            ]),
        ]),
    ],
)
