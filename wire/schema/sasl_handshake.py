"""SaslHandshake (key 17). Never flexible; v1 means SaslAuthenticate frames follow instead of raw tokens."""
from wire.schema.dsl import api, f

API = api(
    key=17,
    name="SaslHandshake",
    valid=(0, 1),
    flexible=None,
    request=[
        f("mechanism", "string"),
    ],
    response=[
        f("error_code", "int16"),
        f("mechanisms", "[]string"),
    ],
)
