"""ShareAcknowledge (key 79, KIP-932). Always flexible. v1 is the stable version; v2 adds is_renew_ack and the
acquisition lock timeout in the response (KIP-1222)."""
from wire.schema.dsl import Struct, api, f
from wire.schema.share_fetch import ACK_BATCH, NODE_ENDPOINTS

API = api(
    key=79,
    name="ShareAcknowledge",
    valid=(1, 2),
    flexible=0,
    request=[
        f("group_id", "string", nullable="0+", default=None),
        f("member_id", "string", nullable="0+"),
        f("share_session_epoch", "int32"),
        f("is_renew_ack", "bool", "2+", default=False),
        f("topics", [
            f("topic_id", "uuid"),
            f("partitions", [
                f("partition_index", "int32"),
                f("acknowledgement_batches", ACK_BATCH),
            ]),
        ]),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("error_code", "int16"),
        f("error_message", "string", nullable="0+", default=None),
        f("acquisition_lock_timeout_ms", "int32", "2+"),
        f("responses", [
            f("topic_id", "uuid"),
            f("partitions", [
                f("partition_index", "int32"),
                f("error_code", "int16"),
                f("error_message", "string", nullable="0+", default=None),
                f("current_leader", Struct([
                    f("leader_id", "int32"),
                    f("leader_epoch", "int32"),
                ])),
            ]),
        ]),
        f("node_endpoints", NODE_ENDPOINTS),
    ],
)
