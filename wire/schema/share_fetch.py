"""ShareFetch (key 78, KIP-932). Always flexible. v1 is the stable version (v0, Kafka 4.0's early access, is gone);
v2 adds share_acquire_mode and the RENEW acknowledgement type (KIP-1206, KIP-1222).

Acknowledge types in acknowledge_types: 0 gap, 1 accept, 2 release, 3 reject, 4 renew (v2)."""
from wire.schema.dsl import Struct, api, f

ACK_BATCH = [
    f("first_offset", "int64"),
    f("last_offset", "int64"),
    f("acknowledge_types", "[]int8"),
]

NODE_ENDPOINTS = [
    f("node_id", "int32"),
    f("host", "string"),
    f("port", "int32"),
    f("rack", "string", nullable="0+", default=None),
]

API = api(
    key=78,
    name="ShareFetch",
    valid=(1, 2),
    flexible=0,
    request=[
        f("group_id", "string", nullable="0+", default=None),
        f("member_id", "string", nullable="0+"),
        f("share_session_epoch", "int32"),
        f("max_wait_ms", "int32"),
        f("min_bytes", "int32"),
        f("max_bytes", "int32", default=0x7FFFFFFF),
        f("max_records", "int32", "1+"),
        f("batch_size", "int32", "1+"),
        f("share_acquire_mode", "int8", "2+"),
        f("topics", [
            f("topic_id", "uuid"),
            f("partitions", [
                f("partition_index", "int32"),
                f("acknowledgement_batches", ACK_BATCH),
            ]),
        ]),
        f("forgotten_topics_data", [
            f("topic_id", "uuid"),
            f("partitions", "[]int32"),
        ]),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("error_code", "int16"),
        f("error_message", "string", nullable="0+", default=None),
        f("acquisition_lock_timeout_ms", "int32", "1+"),
        f("responses", [
            f("topic_id", "uuid"),
            f("partitions", [
                f("partition_index", "int32"),
                f("error_code", "int16"),
                f("error_message", "string", nullable="0+", default=None),
                f("acknowledge_error_code", "int16"),
                f("acknowledge_error_message", "string", nullable="0+", default=None),
                f("current_leader", Struct([
                    f("leader_id", "int32"),
                    f("leader_epoch", "int32"),
                ])),
                f("records", "records", nullable="0+"),
                f("acquired_records", [
                    f("first_offset", "int64"),
                    f("last_offset", "int64"),
                    f("delivery_count", "int16"),
                ]),
            ]),
        ]),
        f("node_endpoints", NODE_ENDPOINTS),
    ],
)
