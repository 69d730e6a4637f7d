"""Feature levels (KIP-584) as ApiVersions v3+ reports them and UpdateFeatures moves them.

The names and ranges are Kafka 4.2's, cut down to what kbroker serves: `metadata.version` up to 4.2-IV1 (29),
`kraft.version` 1, `group.version` 1 (KIP-848 consumer groups), `share.version` 1 (share groups; level 0, or
group.share.enable=false, turns them off), `transaction.version` 1 (KIP-890 part 1 only: clients switch to the
part-2 protocol at level 2, which kbroker does not serve yet), `eligible.leader.replicas.version` 0–1 and
`streams.version` 0 (no streams groups). Levels set with UpdateFeatures are kept in the broker's metadata.
Kafka lists a finalized feature only when its level is above 0.
"""
from __future__ import annotations

from typing import Any

from wire.errors import ErrorCode, KafkaError

# name -> (min supported, max supported, default finalized level)
FEATURES: dict[str, tuple[int, int, int]] = {
    "metadata.version": (7, 29, 29),
    "kraft.version": (0, 1, 1),
    "group.version": (0, 1, 1),
    "share.version": (0, 1, 1),
    "transaction.version": (0, 1, 1),
    "eligible.leader.replicas.version": (0, 1, 1),
    "streams.version": (0, 0, 0),
}

UPGRADE, SAFE_DOWNGRADE, UNSAFE_DOWNGRADE = 1, 2, 3


def _stored(broker: Any) -> dict[str, int]:
    metadata = getattr(broker, "metadata", None)
    if metadata is None:
        return {}
    levels = getattr(metadata, "features", None)
    if levels is None:
        levels = metadata.features = {}
    return levels


def epoch(broker: Any) -> int:
    """The epoch of the finalized levels: 1, plus one per UpdateFeatures change (Kafka's is the metadata log
    offset of the last change). Non-negative, so that clients take the finalized list as valid."""
    return 1 + int(_stored(broker).get("_epoch", 0))


def finalized(broker: Any) -> dict[str, int]:
    stored = _stored(broker)
    levels = {name: int(stored.get(name, level)) for name, (_, _, level) in FEATURES.items()}
    config = getattr(broker, "config", None)
    if config is not None and not config.get("group.share.enable", True):
        levels["share.version"] = 0
    return {name: level for name, level in levels.items() if level > 0}


def api_versions_fields(broker: Any) -> dict:
    """The feature fields of an ApiVersions v3+ answer."""
    return {
        "supported_features": [{"name": n, "min_version": lo, "max_version": hi}
                               for n, (lo, hi, _) in FEATURES.items()],
        "finalized_features_epoch": epoch(broker),
        "finalized_features": [{"name": n, "max_version_level": level, "min_version_level": level}
                               for n, level in finalized(broker).items()],
    }


def update(broker: Any, updates: list[tuple[str, int, int]], validate_only: bool) -> None:
    """Apply (feature, level, upgrade type) all together, or raise KafkaError(INVALID_UPDATE_VERSION)."""
    current = finalized(broker)
    seen: set[str] = set()
    for name, level, kind in updates:
        if name in seen:
            raise KafkaError(ErrorCode.INVALID_REQUEST, f"Feature {name} was specified more than once.")
        seen.add(name)
        if name not in FEATURES:
            raise KafkaError(ErrorCode.INVALID_UPDATE_VERSION, f"Invalid update version {level} for feature "
                                                               f"{name}. The broker does not support the feature.")
        lo, hi, _ = FEATURES[name]
        floor = lo if name == "metadata.version" else 0
        if not (floor <= level <= hi):
            raise KafkaError(ErrorCode.INVALID_UPDATE_VERSION, f"Invalid update version {level} for feature "
                                                               f"{name}. The broker supports versions {lo}-{hi}.")
        if kind not in (UPGRADE, SAFE_DOWNGRADE, UNSAFE_DOWNGRADE):
            raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unknown upgrade type {kind}.")
        if level < current.get(name, 0) and kind == UPGRADE:
            raise KafkaError(ErrorCode.INVALID_UPDATE_VERSION, f"Invalid update version {level} for feature "
                             f"{name}. Can't downgrade the version of this feature without setting the upgrade "
                             "type to either safe or unsafe downgrade.")
    if validate_only or not updates:
        return
    stored = _stored(broker)
    for name, level, _ in updates:
        stored[name] = level
    stored["_epoch"] = int(stored.get("_epoch", 0)) + 1
    save = getattr(broker.metadata, "save", None)
    if save is not None:
        save()
