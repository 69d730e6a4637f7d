"""AlterUserScramCredentials (key 51). Single version, flexible."""
from wire.schema.dsl import api, f

API = api(
    key=51,
    name="AlterUserScramCredentials",
    valid=(0, 0),
    flexible=0,
    request=[
        f("deletions", [
            f("name", "string"),
            f("mechanism", "int8"),
        ]),
        f("upsertions", [
            f("name", "string"),
            f("mechanism", "int8"),
            f("iterations", "int32"),
            f("salt", "bytes"),
            f("salted_password", "bytes"),
        ]),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("results", [
            f("user", "string"),
            f("error_code", "int16"),
            f("error_message", "string", nullable="0+"),
        ]),
    ],
)
