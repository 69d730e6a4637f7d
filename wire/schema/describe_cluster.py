"""DescribeCluster (key 60). Always flexible; v1 adds endpoint_type, v2 fenced-broker reporting."""
from wire.schema.dsl import api, f

API = api(
    key=60,
    name="DescribeCluster",
    valid=(0, 2),
    flexible=0,
    request=[
        f("include_cluster_authorized_operations", "bool"),
        f("endpoint_type", "int8", "1+", default=1),
        f("include_fenced_brokers", "bool", "2+"),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("error_code", "int16"),
        f("error_message", "string", nullable="0+", default=None),
        f("endpoint_type", "int8", "1+", default=1),
        f("cluster_id", "string"),
        f("controller_id", "int32", default=-1),
        f("brokers", [
            f("broker_id", "int32"),
            f("host", "string"),
            f("port", "int32"),
            f("rack", "string", nullable="0+", default=None),
            f("is_fenced", "bool", "2+"),
        ]),
        f("cluster_authorized_operations", "int32", default=-2147483648),
    ],
)
