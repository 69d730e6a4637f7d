"""Feature levels in ApiVersions v3+ (KIP-584): what kafka-features describe and clients read."""
from __future__ import annotations

from tests.conftest import BrokerProcess
from tests.rawclient import RawClient


def _features(bootstrap: str, version: int = 3) -> tuple[dict, int, dict]:
    with RawClient(bootstrap) as c:
        r = c.request(18, version, {"client_software_name": "t", "client_software_version": "1"})
    supported = {f["name"]: (f["min_version"], f["max_version"]) for f in r["supported_features"]}
    finalized = {f["name"]: f["max_version_level"] for f in r["finalized_features"]}
    return supported, r["finalized_features_epoch"], finalized


def test_api_versions_reports_feature_levels(broker: BrokerProcess) -> None:
    supported, epoch, finalized = _features(broker.bootstrap)
    assert epoch >= 0
    assert supported["metadata.version"] == (7, 29)
    assert finalized == {"metadata.version": 29, "kraft.version": 1, "group.version": 1, "share.version": 1,
                         "transaction.version": 1, "eligible.leader.replicas.version": 1}
    for name, level in finalized.items():
        lo, hi = supported[name]
        assert lo <= level <= hi
    with RawClient(broker.bootstrap) as c:  # v0-2 have no tagged fields to carry them
        old = c.request(18, 2, {})
    assert old["supported_features"] == [] and old["finalized_features"] == []


def test_share_version_is_not_finalized_when_share_groups_are_off(tmp_path) -> None:
    b = BrokerProcess(tmp_path / "data", "--set", "group.share.enable=false").start()
    try:
        _, _, finalized = _features(b.bootstrap)
    finally:
        b.stop()
    assert "share.version" not in finalized and finalized["group.version"] == 1
