"""Group configs (GROUP resources, type 32): altered and described through confluent-kafka's and kafka-python's
admin clients, and taking effect: a KIP-848 member's session timeout follows its group's config."""
from __future__ import annotations

import time

import pytest

from tests.conftest import module_broker
from tests.groups.conftest import Raw, create_topic, unique

confluent_kafka = pytest.importorskip("confluent_kafka")
from confluent_kafka import KafkaException  # noqa: E402
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType  # noqa: E402

group_config_broker = module_broker("groupcfg", "--set", "group.consumer.min.session.timeout.ms=500",
                                    "--set", "group.share.min.record.lock.duration.ms=1000")


def _set(admin: AdminClient, group: str, op: AlterConfigOpType, **configs: str) -> None:
    resource = ConfigResource(ResourceType.GROUP, group, incremental_configs=[
        ConfigEntry(k.replace("_", "."), v, incremental_operation=op) for k, v in configs.items()])
    admin.incremental_alter_configs([resource])[resource].result(15)


def _describe(admin: AdminClient, group: str) -> dict:
    resource = ConfigResource(ResourceType.GROUP, group)
    return admin.describe_configs([resource])[resource].result(15)


def test_confluent_admin_alters_and_describes_group_configs(group_config_broker) -> None:
    admin = AdminClient({"bootstrap.servers": group_config_broker.bootstrap})
    group = unique("g")
    before = _describe(admin, group)
    assert before["consumer.session.timeout.ms"].value == "45000" and before["consumer.session.timeout.ms"].is_default
    assert before["share.auto.offset.reset"].value == "latest"
    _set(admin, group, AlterConfigOpType.SET, **{"consumer.session.timeout.ms": "1500",
                                                 "share.record.lock.duration.ms": "2000"})
    after = _describe(admin, group)
    assert after["consumer.session.timeout.ms"].value == "1500" and not after["consumer.session.timeout.ms"].is_default
    assert after["share.record.lock.duration.ms"].value == "2000"
    _set(admin, group, AlterConfigOpType.DELETE, **{"share.record.lock.duration.ms": ""})
    assert _describe(admin, group)["share.record.lock.duration.ms"].value == "30000"
    for bad in ({"consumer.session.timeout.ms": "100"},  # below group.consumer.min.session.timeout.ms
                {"share.auto.offset.reset": "sideways"}, {"no.such.key": "1"}):
        with pytest.raises(KafkaException) as info:
            _set(admin, group, AlterConfigOpType.SET, **bad)
        assert info.value.args[0].code() == 40  # INVALID_CONFIG
    with Raw(group_config_broker.bootstrap) as c:  # the client refuses an empty group name itself
        resp = c.request(44, 1, {"resources": [{"resource_type": 32, "resource_name": "", "configs": [
            {"name": "share.auto.offset.reset", "config_operation": 0, "value": "earliest"}]}], "validate_only": False})
    assert resp["responses"][0]["error_code"] == 42  # INVALID_REQUEST


def test_kafka_python_admin_alters_and_describes_group_configs(group_config_broker) -> None:
    kafka_admin = pytest.importorskip("kafka.admin")
    group = unique("g")
    admin = kafka_admin.KafkaAdminClient(bootstrap_servers=group_config_broker.bootstrap)
    try:
        resource = kafka_admin.ConfigResource(kafka_admin.ConfigResourceType.GROUP, group,
                                              configs={"share.auto.offset.reset": "earliest"})
        admin.alter_configs([resource])
        described = admin.describe_configs([kafka_admin.ConfigResource(kafka_admin.ConfigResourceType.GROUP, group)])
    finally:
        admin.close()
    text = repr(described)
    assert "share.auto.offset.reset" in text and "earliest" in text


def test_member_session_timeout_follows_the_group_config(group_config_broker) -> None:
    bootstrap = group_config_broker.bootstrap
    topic, group = unique("t"), unique("g")
    create_topic(bootstrap, topic, 2)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    _set(admin, group, AlterConfigOpType.SET, **{"consumer.session.timeout.ms": "1000",
                                                 "consumer.heartbeat.interval.ms": "5000"})
    with Raw(bootstrap) as c:
        member = unique("m")
        joined = c.request(68, 1, {"group_id": group, "member_id": member, "member_epoch": 0, "instance_id": None,
                                   "rack_id": None, "rebalance_timeout_ms": 5000, "subscribed_topic_names": [topic],
                                   "subscribed_topic_regex": None, "server_assignor": None, "topic_partitions": []})
        assert joined["error_code"] == 0, joined
        assert joined["heartbeat_interval_ms"] == 5000  # the group's consumer.heartbeat.interval.ms

        def members() -> list:
            described = c.request(69, 1, {"group_ids": [group], "include_authorized_operations": False})
            return described["groups"][0]["members"]

        # the broker default (45 s) would keep the silent member far longer than this bound
        deadline = time.monotonic() + 20
        while members() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert members() == [], "the member outlived its group's 1 s session timeout"
        again = c.request(68, 1, {"group_id": group, "member_id": member, "member_epoch": joined["member_epoch"],
                                  "instance_id": None, "rack_id": None, "rebalance_timeout_ms": -1,
                                  "subscribed_topic_names": None, "subscribed_topic_regex": None,
                                  "server_assignor": None, "topic_partitions": None})
        assert again["error_code"] == 25  # UNKNOWN_MEMBER_ID: it was fenced
