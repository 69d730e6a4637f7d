"""WriteTxnMarkers (key 27). Broker-to-broker; v1 is flexible and the only version Kafka 4 keeps."""
from wire.schema.dsl import api, f

API = api(
    key=27,
    name="WriteTxnMarkers",
    valid=(0, 1),
    flexible=1,
    request=[
        f("markers", [
            f("producer_id", "int64"),
            f("producer_epoch", "int16"),
            f("transaction_result", "bool"),
            f("topics", [
                f("name", "string"),
                f("partition_indexes", "[]int32"),
            ]),
            f("coordinator_epoch", "int32"),
        ]),
    ],
    response=[
        f("markers", [
            f("producer_id", "int64"),
            f("topics", [
                f("name", "string"),
                f("partitions", [
                    f("partition_index", "int32"),
                    f("error_code", "int16"),
                ]),
            ]),
        ]),
    ],
)
