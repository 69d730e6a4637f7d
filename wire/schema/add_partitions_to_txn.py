"""AddPartitionsToTxn (key 24). v3+ flexible; v4 batches transactions, moving the old top level to v3_and_below_*."""
from wire.schema.dsl import api, f

ADD_PARTITIONS_TO_TXN_TOPIC = [
    f("name", "string"),
    f("partitions", "[]int32"),
]

ADD_PARTITIONS_TO_TXN_PARTITION_RESULT = [
    f("partition_index", "int32"),
    f("partition_error_code", "int16"),
]

ADD_PARTITIONS_TO_TXN_TOPIC_RESULT = [
    f("name", "string"),
    f("results_by_partition", ADD_PARTITIONS_TO_TXN_PARTITION_RESULT),
]

API = api(
    key=24,
    name="AddPartitionsToTxn",
    valid=(0, 5),
    flexible=3,
    request=[
        f("transactions", [
            f("transactional_id", "string", "4+"),
            f("producer_id", "int64", "4+"),
            f("producer_epoch", "int16", "4+"),
            f("verify_only", "bool", "4+", default=False),
            f("topics", ADD_PARTITIONS_TO_TXN_TOPIC, "4+"),
        ], "4+"),
        f("v3_and_below_transactional_id", "string", "0-3"),
        f("v3_and_below_producer_id", "int64", "0-3"),
        f("v3_and_below_producer_epoch", "int16", "0-3"),
        f("v3_and_below_topics", ADD_PARTITIONS_TO_TXN_TOPIC, "0-3"),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("error_code", "int16", "4+"),
        f("results_by_transaction", [
            f("transactional_id", "string", "4+"),
            f("topic_results", ADD_PARTITIONS_TO_TXN_TOPIC_RESULT, "4+"),
        ], "4+"),
        f("results_by_topic_v3_and_below", ADD_PARTITIONS_TO_TXN_TOPIC_RESULT, "0-3"),
    ],
)
