"""Feature levels (KIP-584) as ApiVersions v3+ reports them: what this broker supports, and what is finalized.

The names and ranges are Kafka 4.2's, cut down to what kbroker serves: `metadata.version` up to 4.2-IV1 (29),
`kraft.version` 1, `group.version` 1 (KIP-848 consumer groups), `share.version` 1 (share groups, 0 when
group.share.enable is false), `transaction.version` 1 (KIP-890 part 1 only: clients switch to the part-2
protocol at level 2, which kbroker does not serve yet), `eligible.leader.replicas.version` 0–1 and
`streams.version` 0 (no streams groups). Kafka lists a finalized feature only when its level is above 0.
"""
from __future__ import annotations

from typing import Any

# name -> (min supported, max supported, finalized level)
FEATURES: dict[str, tuple[int, int, int]] = {
    "metadata.version": (7, 29, 29),
    "kraft.version": (0, 1, 1),
    "group.version": (0, 1, 1),
    "share.version": (0, 1, 1),
    "transaction.version": (0, 1, 1),
    "eligible.leader.replicas.version": (0, 1, 1),
    "streams.version": (0, 0, 0),
}

FINALIZED_EPOCH = 1
"""The epoch of the finalized levels; Kafka's is the metadata log offset of their last change. Non-negative, so
that clients (Java's Admin.describeFeatures) take the finalized list as valid."""


def finalized(broker: Any) -> dict[str, int]:
    levels = {name: level for name, (_, _, level) in FEATURES.items()}
    config = getattr(broker, "config", None)
    if config is not None and not config.get("group.share.enable", True):
        levels["share.version"] = 0
    return {name: level for name, level in levels.items() if level > 0}


def api_versions_fields(broker: Any) -> dict:
    """The feature fields of an ApiVersions v3+ answer."""
    return {
        "supported_features": [{"name": n, "min_version": lo, "max_version": hi} for n, (lo, hi, _) in FEATURES.items()],
        "finalized_features_epoch": FINALIZED_EPOCH,
        "finalized_features": [{"name": n, "max_version_level": level, "min_version_level": level}
                               for n, level in finalized(broker).items()],
    }
