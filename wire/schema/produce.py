"""Produce (key 0). v3 adds the transactional id; v8 per-batch record errors; v9+ flexible; v10 leader hints as tagged
fields; v13 names topics by id.
"""
from wire.schema.dsl import Struct, api, f

API = api(
    key=0,
    name="Produce",
    valid=(0, 13),
    flexible=9,
    request=[
        f("transactional_id", "string", "3+", nullable="3+", default=None),
        f("acks", "int16"),
        f("timeout_ms", "int32"),
        f("topic_data", [
            f("name", "string", "0-12"),
            f("topic_id", "uuid", "13+"),
            f("partition_data", [
                f("index", "int32"),
                f("records", "records", nullable="0+"),
            ]),
        ]),
    ],
    response=[
        f("responses", [
            f("name", "string", "0-12"),
            f("topic_id", "uuid", "13+"),
            f("partition_responses", [
                f("index", "int32"),
                f("error_code", "int16"),
                f("base_offset", "int64"),
                f("log_append_time_ms", "int64", "2+", default=-1),
                f("log_start_offset", "int64", "5+", default=-1),
                f("record_errors", [
                    f("batch_index", "int32", "8+"),
                    f("batch_index_error_message", "string", "8+", nullable="8+", default=None),
                ], "8+"),
                f("error_message", "string", "8+", nullable="8+", default=None),
                f("current_leader", Struct([
                    f("leader_id", "int32", "10+", default=-1),
                    f("leader_epoch", "int32", "10+", default=-1),
                ]), "10+", tag=0),
            ]),
        ]),
        f("throttle_time_ms", "int32", "1+", default=0),
        f("node_endpoints", [
            f("node_id", "int32", "10+"),
            f("host", "string", "10+"),
            f("port", "int32", "10+"),
            f("rack", "string", "10+", nullable="10+", default=None),
        ], "10+", tag=0),
    ],
)
