"""DescribeUserScramCredentials (key 50). Single version, flexible."""
from wire.schema.dsl import api, f

API = api(
    key=50,
    name="DescribeUserScramCredentials",
    valid=(0, 0),
    flexible=0,
    request=[
        f("users", [
            f("name", "string"),
        ], nullable="0+"),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("error_code", "int16"),
        f("error_message", "string", nullable="0+"),
        f("results", [
            f("user", "string"),
            f("error_code", "int16"),
            f("error_message", "string", nullable="0+"),
            f("credential_infos", [
                f("mechanism", "int8"),
                f("iterations", "int32"),
            ]),
        ]),
    ],
)
