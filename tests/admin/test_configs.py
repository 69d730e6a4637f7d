"""DescribeConfigs, AlterConfigs and IncrementalAlterConfigs through confluent-kafka, kafka-python and raw
frames: defaults and overrides, sources and synonyms, types and documentation, validation errors, live effect,
broker dynamic configs and loggers, and persistence across a restart."""
from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource,
                                   NewTopic, ResourceType)

from tests.admin.conftest import create_topic, list_offset, produce, unique, wait_until
from tests.conftest import BrokerProcess
from tests.rawclient import RawClient
from wire.records import batch_from_tuples

TOPIC_KEYS_41 = {
    "cleanup.policy", "compression.gzip.level", "compression.lz4.level", "compression.type", "compression.zstd.level",
    "delete.retention.ms", "file.delete.delay.ms", "flush.messages", "flush.ms",
    "follower.replication.throttled.replicas", "index.interval.bytes", "leader.replication.throttled.replicas",
    "local.retention.bytes", "local.retention.ms", "max.compaction.lag.ms", "max.message.bytes",
    "message.downconversion.enable", "message.timestamp.after.max.ms", "message.timestamp.before.max.ms",
    "message.timestamp.type", "min.cleanable.dirty.ratio", "min.compaction.lag.ms", "min.insync.replicas",
    "preallocate", "remote.log.copy.disable", "remote.log.delete.on.disable", "remote.storage.enable",
    "retention.bytes", "retention.ms", "segment.bytes", "segment.index.bytes", "segment.jitter.ms", "segment.ms",
    "unclean.leader.election.enable",
}


@pytest.fixture(scope="module")
def admin(fast_broker: BrokerProcess) -> AdminClient:
    return AdminClient({"bootstrap.servers": fast_broker.bootstrap})


def describe(admin: AdminClient, rtype: ResourceType, name: str) -> dict:
    resource = ConfigResource(rtype, name)
    return admin.describe_configs([resource])[resource].result(30)


def incremental(admin: AdminClient, rtype: ResourceType, name: str, *ops: tuple[str, str | None, AlterConfigOpType],
                validate_only: bool = False) -> None:
    resource = ConfigResource(rtype, name, incremental_configs=[
        ConfigEntry(key, value, incremental_operation=op) for key, value, op in ops])
    admin.incremental_alter_configs([resource], validate_only=validate_only)[resource].result(30)


def test_confluent_describe_topic_defaults_and_overrides(admin: AdminClient) -> None:
    topic = unique("cfg")
    admin.create_topics([NewTopic(topic, 1, 1, config={"retention.ms": "123456", "cleanup.policy": "compact,delete"})])[
        topic].result(30)
    configs = describe(admin, ResourceType.TOPIC, topic)
    assert set(configs) == TOPIC_KEYS_41
    retention = configs["retention.ms"]
    assert retention.value == "123456" and retention.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert not retention.is_default and not retention.is_read_only and not retention.is_sensitive
    assert configs["cleanup.policy"].value == "compact,delete"
    segment = configs["segment.bytes"]
    assert segment.value == "1073741824" and segment.source == ConfigSource.DEFAULT_CONFIG.value and segment.is_default
    assert configs["min.cleanable.dirty.ratio"].value == "0.5"
    assert configs["message.timestamp.after.max.ms"].value == "3600000"
    assert configs["max.message.bytes"].value == "1048588"
    # the default of a topic key comes with its broker synonym
    policy_synonyms = list(describe(admin, ResourceType.TOPIC, topic)["segment.bytes"].synonyms.values())
    assert [(s.name, s.value, s.source) for s in policy_synonyms] == [
        ("log.segment.bytes", "1073741824", ConfigSource.DEFAULT_CONFIG.value)]


def test_confluent_describe_broker(admin: AdminClient, fast_broker: BrokerProcess) -> None:
    configs = describe(admin, ResourceType.BROKER, "1")
    assert len(configs) > 250  # every Kafka broker key
    static = configs["log.retention.check.interval.ms"]
    assert static.value == "200" and static.source == ConfigSource.STATIC_BROKER_CONFIG.value and static.is_read_only
    hours = configs["log.retention.hours"]
    assert hours.value == "168" and hours.source == ConfigSource.DEFAULT_CONFIG.value
    assert configs["log.retention.ms"].value is None and not configs["log.retention.ms"].is_read_only
    password = configs["ssl.keystore.password"]
    assert password.is_sensitive and password.value is None
    assert configs["message.max.bytes"].value == "1048588"
    assert configs["log.dirs"].source == ConfigSource.STATIC_BROKER_CONFIG.value


def test_confluent_incremental_alter_takes_effect(admin: AdminClient, fast_broker: BrokerProcess) -> None:
    topic = unique("ret")
    admin.create_topics([NewTopic(topic, 1, 1, config={"segment.ms": "100"})])[topic].result(30)
    with RawClient(fast_broker.bootstrap) as raw:
        old = int(time.time() * 1000) - 60_000  # a minute old: kept by the default retention
        for i in range(5):
            assert produce(raw, topic, 0, batch_from_tuples([(b"k", b"v%d" % i, None, old)]))["error_code"] == 0
            time.sleep(0.15)  # segment.ms: each append after the first rolls a new segment
        time.sleep(0.5)
        assert list_offset(raw, topic, 0, -2) == (0, 0)
        incremental(admin, ResourceType.TOPIC, topic, ("retention.ms", "1000", AlterConfigOpType.SET))
        assert describe(admin, ResourceType.TOPIC, topic)["retention.ms"].value == "1000"
        # the next retention pass (every 200 ms) deletes every segment: the log start meets the log end
        wait_until(lambda: list_offset(raw, topic, 0, -2) == (0, 5), 10, what="retention to apply the new config")
        assert list_offset(raw, topic, 0, -1) == (0, 5)


def test_confluent_incremental_ops_and_validation(admin: AdminClient) -> None:
    topic = unique("ops")
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    incremental(admin, ResourceType.TOPIC, topic, ("cleanup.policy", "compact", AlterConfigOpType.APPEND),
                ("retention.bytes", "1000000", AlterConfigOpType.SET))
    configs = describe(admin, ResourceType.TOPIC, topic)
    assert configs["cleanup.policy"].value == "delete,compact"
    assert configs["retention.bytes"].value == "1000000"
    incremental(admin, ResourceType.TOPIC, topic, ("cleanup.policy", "delete", AlterConfigOpType.SUBTRACT),
                ("retention.bytes", None, AlterConfigOpType.DELETE))
    configs = describe(admin, ResourceType.TOPIC, topic)
    assert configs["cleanup.policy"].value == "compact"
    assert configs["retention.bytes"].value == "-1" and configs["retention.bytes"].is_default
    incremental(admin, ResourceType.TOPIC, topic, ("retention.ms", "5", AlterConfigOpType.SET), validate_only=True)
    assert describe(admin, ResourceType.TOPIC, topic)["retention.ms"].value == "604800000"
    for ops, wording in [
        ((("retention.ms", "soon", AlterConfigOpType.SET),), "Not a number of type LONG"),
        ((("no.such.config", "1", AlterConfigOpType.SET),), "Unknown topic config name"),
        ((("retention.ms", "-5", AlterConfigOpType.SET),), "Value must be at least -1"),
        ((("compression.type", "brotli", AlterConfigOpType.SET),), "String must be one of"),
        ((("retention.ms", "1", AlterConfigOpType.APPEND),), "because its type is not LIST"),
        ((("min.compaction.lag.ms", "10", AlterConfigOpType.SET),
          ("max.compaction.lag.ms", "5", AlterConfigOpType.SET)), "conflict topic config setting"),
    ]:
        with pytest.raises(KafkaException) as info:
            incremental(admin, ResourceType.TOPIC, topic, *ops)
        error = info.value.args[0]
        assert error.name() == "INVALID_CONFIG" and wording in error.str(), error
    missing = ConfigResource(ResourceType.TOPIC, unique("missing"), incremental_configs=[
        ConfigEntry("retention.ms", "1", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException) as info:
        admin.incremental_alter_configs([missing])[missing].result(30)
    assert info.value.args[0].code() == 3  # UNKNOWN_TOPIC_OR_PARTITION


def raw_incremental(raw: RawClient, rtype: int, name: str, *ops: tuple[str, str | None, int]) -> dict:
    body = {"resources": [{"resource_type": rtype, "resource_name": name, "configs": [
        {"name": k, "config_operation": op, "value": v} for k, v, op in ops]}], "validate_only": False}
    return raw.request(44, 1, body)["responses"][0]


def raw_describe(raw: RawClient, rtype: int, name: str) -> dict[str, dict]:
    body = {"resources": [{"resource_type": rtype, "resource_name": name, "configuration_keys": None}],
            "include_synonyms": True, "include_documentation": False}
    result = raw.request(32, 4, body)["results"][0]
    assert result["error_code"] == 0, result
    return {c["name"]: c for c in result["configs"]}


def test_broker_dynamic_configs(admin: AdminClient, raw: RawClient) -> None:
    # the cluster-wide default ("" resource; confluent-kafka cannot name it, so raw frames)
    assert raw_incremental(raw, 4, "", ("log.cleaner.delete.retention.ms", "4242", 0))["error_code"] == 0
    try:
        default_level = raw_describe(raw, 4, "")
        assert set(default_level) == {"log.cleaner.delete.retention.ms"}
        entry = default_level["log.cleaner.delete.retention.ms"]
        assert entry["value"] == "4242" and entry["config_source"] == 3  # DYNAMIC_DEFAULT_BROKER_CONFIG
        node = describe(admin, ResourceType.BROKER, "1")["log.cleaner.delete.retention.ms"]
        assert node.value == "4242" and node.source == ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value
        # every topic without its own delete.retention.ms now defaults to it
        topic = unique("dyn")
        admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
        topic_entry = describe(admin, ResourceType.TOPIC, topic)["delete.retention.ms"]
        assert topic_entry.value == "4242"
        assert topic_entry.source == ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value
        incremental(admin, ResourceType.BROKER, "1", ("log.cleaner.delete.retention.ms", "99", AlterConfigOpType.SET))
        node = describe(admin, ResourceType.BROKER, "1")["log.cleaner.delete.retention.ms"]
        assert node.value == "99" and node.source == ConfigSource.DYNAMIC_BROKER_CONFIG.value
        synonyms = raw_describe(raw, 4, "1")["log.cleaner.delete.retention.ms"]["synonyms"]
        assert [(s["value"], s["source"]) for s in synonyms] == [("99", 2), ("4242", 3), ("86400000", 5)]
        assert describe(admin, ResourceType.TOPIC, topic)["delete.retention.ms"].value == "99"
        with pytest.raises(KafkaException) as info:
            incremental(admin, ResourceType.BROKER, "1", ("log.dirs", "/elsewhere", AlterConfigOpType.SET))
        assert info.value.args[0].name() == "INVALID_REQUEST"
        assert "Cannot update these configs dynamically" in info.value.args[0].str()
        per_broker_only = raw_incremental(raw, 4, "", ("listeners", "PLAINTEXT://:1", 0))
        assert per_broker_only["error_code"] == 42 and "broker id must be specified" in per_broker_only["error_message"]
    finally:
        raw_incremental(raw, 4, "", ("log.cleaner.delete.retention.ms", None, 1))
        raw_incremental(raw, 4, "1", ("log.cleaner.delete.retention.ms", None, 1))
    assert raw_describe(raw, 4, "") == {}


def test_kafka_python_describe_and_alter(fast_broker: BrokerProcess) -> None:
    from kafka.admin import ConfigResource as KConfigResource
    from kafka.admin import ConfigResourceType, KafkaAdminClient, NewTopic as KNewTopic

    admin = KafkaAdminClient(bootstrap_servers=fast_broker.bootstrap, request_timeout_ms=30000)
    try:
        topic = unique("kp")
        admin.create_topics([KNewTopic(topic, 1, 1, topic_configs={"retention.ms": "777777"})])
        described = admin.describe_configs([KConfigResource(ConfigResourceType.TOPIC, topic)], include_synonyms=True,
                                           config_filter="all")
        configs = described["topic"][topic]
        assert configs["retention.ms"]["value"] == "777777"
        assert configs["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
        assert configs["segment.bytes"]["config_source"] == "DEFAULT_CONFIG"
        modified = admin.describe_configs([KConfigResource(ConfigResourceType.TOPIC, topic)])["topic"][topic]
        assert set(modified) == {"retention.ms"}
        result = admin.alter_configs([KConfigResource(ConfigResourceType.TOPIC, topic, configs={"retention.ms": "888"})])
        assert result["topic"][topic] == "OK"
        after = admin.describe_configs([KConfigResource(ConfigResourceType.TOPIC, topic)])["topic"][topic]
        assert after["retention.ms"]["value"] == "888"
        # the legacy AlterConfigs replaces the whole set
        result = admin.alter_configs([KConfigResource(ConfigResourceType.TOPIC, topic,
                                                      configs={"segment.ms": "600000"})], incremental=False)
        assert result["topic"][topic] == "OK"
        after = admin.describe_configs([KConfigResource(ConfigResourceType.TOPIC, topic)])["topic"][topic]
        assert set(after) == {"segment.ms", "retention.ms"}  # kafka-python re-sends the other modified keys
        broker = admin.describe_configs([KConfigResource(ConfigResourceType.BROKER, "1")], config_filter="all")
        assert broker["broker"]["1"]["num.partitions"]["value"] == "1"
    finally:
        admin.close()


def test_raw_describe_configs_versions(raw: RawClient) -> None:
    topic = unique("raw")
    create_topic(raw, topic, configs={"segment.ms": "60000"})
    body = {"resources": [{"resource_type": 2, "resource_name": topic, "configuration_keys": ["segment.ms", "retention.ms"]}],
            "include_synonyms": True, "include_documentation": True}
    for version in range(0, 5):
        result = raw.request(32, version, body)["results"][0]
        assert result["error_code"] == 0
        configs = {c["name"]: c for c in result["configs"]}
        assert set(configs) == {"segment.ms", "retention.ms"}
        if version == 0:
            assert configs["segment.ms"]["is_default"] is False and configs["retention.ms"]["is_default"] is True
        else:
            assert configs["segment.ms"]["config_source"] == 1
            assert [s["source"] for s in configs["segment.ms"]["synonyms"]][:1] == [1]
        if version >= 3:
            assert configs["retention.ms"]["config_type"] == 5  # LONG
            assert configs["retention.ms"]["documentation"]
    unknown = raw.request(32, 4, {"resources": [{"resource_type": 2, "resource_name": unique("nope"),
                                                 "configuration_keys": None}],
                                  "include_synonyms": False, "include_documentation": False})["results"][0]
    assert unknown["error_code"] == 3 and unknown["configs"] == []
    loggers = raw.request(32, 4, {"resources": [{"resource_type": 8, "resource_name": "1", "configuration_keys": None}],
                                  "include_synonyms": False, "include_documentation": False})["results"][0]
    assert loggers["error_code"] == 0 and any(c["name"] == "root" for c in loggers["configs"])
    other = raw.request(32, 4, {"resources": [{"resource_type": 4, "resource_name": "7", "configuration_keys": None}],
                                "include_synonyms": False, "include_documentation": False})["results"][0]
    assert other["error_code"] == 42
    assert other["error_message"] == "Unexpected broker id, expected 1 or empty string, but received 7"


def test_raw_alter_configs_preprocessing(raw: RawClient) -> None:
    topic = unique("pre")
    create_topic(raw, topic)
    twice = {"resources": [{"resource_type": 2, "resource_name": topic, "configs": []}] * 2, "validate_only": False}
    assert [r["error_code"] for r in raw.request(44, 1, twice)["responses"]] == [42, 42]
    dup = {"resources": [{"resource_type": 2, "resource_name": topic, "configs": [
        {"name": "retention.ms", "config_operation": 0, "value": "1"},
        {"name": "retention.ms", "config_operation": 0, "value": "2"}]}], "validate_only": False}
    response = raw.request(44, 1, dup)["responses"][0]
    assert response["error_code"] == 42 and response["error_message"] == "Error due to duplicate config keys"
    legacy = {"resources": [{"resource_type": 2, "resource_name": topic,
                             "configs": [{"name": "retention.ms", "value": "4000"}]}], "validate_only": False}
    assert raw.request(33, 2, legacy)["responses"][0]["error_code"] == 0
    logger = {"resources": [{"resource_type": 8, "resource_name": "1", "configs": [
        {"name": "kbroker.log.cleaner", "config_operation": 0, "value": "DEBUG"}]}], "validate_only": False}
    assert raw.request(44, 1, logger)["responses"][0]["error_code"] == 0
    bad_level = {"resources": [{"resource_type": 8, "resource_name": "1", "configs": [
        {"name": "kbroker.log.cleaner", "config_operation": 0, "value": "LOUD"}]}], "validate_only": False}
    assert raw.request(44, 1, bad_level)["responses"][0]["error_code"] == 40
    back = {"resources": [{"resource_type": 8, "resource_name": "1", "configs": [
        {"name": "kbroker.log.cleaner", "config_operation": 1, "value": None}]}], "validate_only": False}
    assert raw.request(44, 1, back)["responses"][0]["error_code"] == 0


def test_raw_incremental_alter_configs_names_the_requested_node(raw: RawClient) -> None:
    """A resource naming another node is refused with a message that names the node asked for, not this one."""
    for rtype, pattern in ((8, "Unexpected node id. Expected 1, but received 7"),
                           (4, "Unexpected broker id, expected 1 or empty string, but received 7")):
        body = {"resources": [{"resource_type": rtype, "resource_name": "7", "configs": [
            {"name": "kbroker.log.cleaner" if rtype == 8 else "log.retention.bytes", "config_operation": 0,
             "value": "DEBUG" if rtype == 8 else "1000"}]}], "validate_only": False}
        response = raw.request(44, 1, body)["responses"][0]
        assert response["error_code"] == 42 and response["resource_name"] == "7"
        assert response["error_message"] == pattern


def test_configs_survive_restart(tmp_path) -> None:  # type: ignore[no-untyped-def]
    broker = BrokerProcess(tmp_path / "data").start()
    try:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        topic = unique("persist")
        admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
        incremental(admin, ResourceType.TOPIC, topic, ("retention.ms", "31337", AlterConfigOpType.SET))
        with RawClient(broker.bootstrap) as raw:
            assert raw_incremental(raw, 4, "", ("log.retention.bytes", "123456789", 0))["error_code"] == 0
        broker.stop()
        broker.start()
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        assert describe(admin, ResourceType.TOPIC, topic)["retention.ms"].value == "31337"
        entry = describe(admin, ResourceType.TOPIC, topic)["retention.bytes"]
        assert entry.value == "123456789" and entry.source == ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value
    finally:
        broker.stop()


def test_broker_dynamic_values_out_of_range(raw: RawClient) -> None:
    response = raw_incremental(raw, 4, "1", ("log.segment.bytes", "5", 0))
    assert response["error_code"] == 42 and "log.segment.bytes" in response["error_message"]
    response = raw_incremental(raw, 4, "", ("log.cleanup.policy", "shred", 0))
    assert response["error_code"] == 42
    response = raw_incremental(raw, 4, "", ("ssl.keystore.password", "secret", 0))
    assert response["error_code"] == 42 and "listener prefix" in response["error_message"]
    assert raw_describe(raw, 4, "") == {}
