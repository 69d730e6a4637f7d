"""UpdateFeatures (key 57, KIP-584). Always flexible. v1 adds validate_only and replaces allow_downgrade with
upgrade_type (1 upgrade, 2 safe downgrade, 3 unsafe downgrade); v2 answers without per-feature results."""
from wire.schema.dsl import api, f

API = api(
    key=57,
    name="UpdateFeatures",
    valid=(0, 2),
    flexible=0,
    request=[
        f("timeout_ms", "int32", default=60000),
        f("feature_updates", [
            f("feature", "string"),
            f("max_version_level", "int16"),
            f("allow_downgrade", "bool", "0"),
            f("upgrade_type", "int8", "1+", default=1),
        ]),
        f("validate_only", "bool", "1+", default=False),
    ],
    response=[
        f("throttle_time_ms", "int32"),
        f("error_code", "int16"),
        f("error_message", "string", nullable="0+"),
        f("results", [
            f("feature", "string"),
            f("error_code", "int16"),
            f("error_message", "string", nullable="0+"),
        ], "0-1"),
    ],
)
