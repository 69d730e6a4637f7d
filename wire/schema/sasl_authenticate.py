"""SaslAuthenticate (key 36). v1 adds session_lifetime_ms, v2 is flexible."""
from wire.schema.dsl import api, f

API = api(
    key=36,
    name="SaslAuthenticate",
    valid=(0, 2),
    flexible=2,
    request=[
        f("auth_bytes", "bytes"),
    ],
    response=[
        f("error_code", "int16"),
        f("error_message", "string", nullable="0+"),
        f("auth_bytes", "bytes"),
        f("session_lifetime_ms", "int64", "1+", default=0),
    ],
)
