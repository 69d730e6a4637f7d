"""Feature levels in ApiVersions v3+ (KIP-584): what kafka-features describe and clients read."""
from __future__ import annotations

from tests.conftest import BrokerProcess
from tests.rawclient import RawClient


def _features(bootstrap: str, version: int = 4) -> tuple[dict, int, dict]:
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


def _raw_supported_features(bootstrap: str, version: int) -> dict[str, tuple[int, int]]:
    """SupportedFeatures (tag 0 of the ApiVersions v3+ body) read by hand as Kafka's ApiVersionsResponse.json lays
    it out, not through kbroker's schema."""
    from tests.share.kafka_layout import Reader, raw_request

    with RawClient(bootstrap) as c:
        r = raw_request(c, 18, version, {"client_software_name": "t", "client_software_version": "1"},
                        flexible_header=False)  # ApiVersions answers always carry header v0
    assert r.int16() == 0
    for _ in range(r.compact_array_len()):
        r.int16(), r.int16(), r.int16()
        r.tags()
    r.int32()
    tags = r.tags()
    r.end()
    out: dict[str, tuple[int, int]] = {}
    if 0 in tags:
        f = Reader(tags[0])
        for _ in range(f.compact_array_len()):
            name = f.compact_string()
            out[name] = (f.int16(), f.int16())
            f.tags()
        f.end()
    return out


def test_api_versions_v3_leaves_out_features_with_minimum_zero(broker: BrokerProcess) -> None:
    v3 = _raw_supported_features(broker.bootstrap, 3)
    assert v3 == {"metadata.version": (7, 29)}


def test_api_versions_v4_lists_every_supported_feature(broker: BrokerProcess) -> None:
    v4 = _raw_supported_features(broker.bootstrap, 4)
    assert v4["metadata.version"] == (7, 29)
    assert v4["share.version"] == (0, 1) and v4["group.version"] == (0, 1) and v4["kraft.version"] == (0, 1)
    assert len(v4) == 7
