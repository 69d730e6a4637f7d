"""DescribeQuorum, ApiVersions' feature levels and ListConfigResources through kafka-python's admin client
(the calls kafka-metadata-quorum, kafka-features and kafka-configs --list make)."""
from __future__ import annotations

import pytest

from tests.conftest import module_broker
from tests.helpers import create_topics, unique
from tests.rawclient import RawClient

kafka_admin = pytest.importorskip("kafka.admin")

cluster_broker = module_broker("clusterapis")


def _admin(bootstrap: str):  # type: ignore[no-untyped-def]
    return kafka_admin.KafkaAdminClient(bootstrap_servers=bootstrap)


def test_describe_metadata_quorum(cluster_broker) -> None:
    admin = _admin(cluster_broker.bootstrap)
    try:
        quorum = admin.describe_metadata_quorum()
    finally:
        admin.close()
    partition = quorum["topics"][0]["partitions"][0]
    assert quorum["topics"][0]["topic_name"] == "__cluster_metadata" and partition["error"] is None
    assert partition["leader_id"] == 1 and [v["replica_id"] for v in partition["current_voters"]] == [1]
    host, port = cluster_broker.bootstrap.rsplit(":", 1)
    assert quorum["nodes"] == [{"node_id": 1, "listeners": [{"name": "CONTROLLER", "host": host, "port": int(port)}]}]
    with RawClient(cluster_broker.bootstrap) as c:
        other = c.request(55, 0, {"topics": [{"topic_name": "elsewhere", "partitions": [{"partition_index": 0}]}]})
    assert other["topics"][0]["partitions"][0]["error_code"] == 3  # UNKNOWN_TOPIC_OR_PARTITION


def test_describe_features(cluster_broker) -> None:
    admin = _admin(cluster_broker.bootstrap)
    try:
        features = admin.describe_features()
    finally:
        admin.close()
    assert features["metadata.version"]["supported"] == (7, 29)
    assert features["metadata.version"]["finalized"] == (29, 29)
    assert features["share.version"]["finalized"] == (1, 1)
    assert features["transaction.version"]["finalized"] == (1, 1)
    assert "finalized" not in features["streams.version"]


def test_list_config_resources(cluster_broker) -> None:
    topic, group = unique("cfgres"), unique("g")
    create_topics(cluster_broker.bootstrap, (topic, 1))
    admin = _admin(cluster_broker.bootstrap)
    try:
        admin.alter_configs([kafka_admin.ConfigResource(kafka_admin.ConfigResourceType.GROUP, group,
                                                        configs={"consumer.session.timeout.ms": "50000"})])
        listed = admin.list_config_resources()
        groups_only = admin.list_config_resources(resource_types=["GROUP"])
    finally:
        admin.close()
    assert topic in listed["topic"] and group in listed["group"]
    assert listed["broker"] == ["1"] and listed["broker_logger"] == ["1"]
    assert groups_only == {"group": listed["group"]}
    with RawClient(cluster_broker.bootstrap) as c:
        old = c.request(74, 0, {})  # v0, ListClientMetricsResources: no subscriptions here
    assert old["error_code"] == 0 and old["config_resources"] == []


def test_update_features_moves_share_version(tmp_path) -> None:
    from kafka.errors import InvalidUpdateVersionError

    from tests.conftest import BrokerProcess

    b = BrokerProcess(tmp_path / "data").start()
    try:
        admin = _admin(b.bootstrap)
        try:
            with pytest.raises(InvalidUpdateVersionError):  # a downgrade must say so
                admin.update_features({"share.version": 0})
            with pytest.raises(InvalidUpdateVersionError):  # beyond what kbroker supports
                admin.update_features({"transaction.version": 2})
            assert admin.update_features({"share.version": ("SAFE_DOWNGRADE", 0)}) == {"share.version": "OK"}
            features = admin.describe_features()
        finally:
            admin.close()
        assert "finalized" not in features["share.version"]
        with RawClient(b.bootstrap) as c:
            keys = {k["api_key"] for k in c.request(18, 3, {"client_software_name": "t",
                                                            "client_software_version": "1"})["api_keys"]}
        assert 76 not in keys and 78 not in keys
    finally:
        b.stop()
    b = BrokerProcess(tmp_path / "data").start()  # the level is kept
    try:
        admin = _admin(b.bootstrap)
        try:
            assert "finalized" not in admin.describe_features()["share.version"]
            assert admin.update_features({"share.version": 1}) == {"share.version": "OK"}
            assert admin.describe_features()["share.version"]["finalized"] == (1, 1)
        finally:
            admin.close()
    finally:
        b.stop()


def test_alter_replica_log_dirs(cluster_broker) -> None:
    from kafka import TopicPartitionReplica
    from kafka.errors import LogDirNotFoundError, NoError, UnknownTopicOrPartitionError

    topic = unique("logdirs")
    create_topics(cluster_broker.bootstrap, (topic, 2))
    with RawClient(cluster_broker.bootstrap) as c:
        path = c.request(35, 4, {"topics": None})["results"][0]["log_dir"]  # the one DescribeLogDirs reports
    admin = _admin(cluster_broker.bootstrap)
    try:
        result = admin.alter_replica_log_dirs({
            TopicPartitionReplica(topic, 0, 1): path,
            TopicPartitionReplica(topic, 7, 1): path,
        })
        elsewhere = admin.alter_replica_log_dirs({TopicPartitionReplica(topic, 1, 1): "/no/such/dir"})
    finally:
        admin.close()
    assert result[TopicPartitionReplica(topic, 0, 1)] is NoError
    assert result[TopicPartitionReplica(topic, 7, 1)] is UnknownTopicOrPartitionError
    assert elsewhere[TopicPartitionReplica(topic, 1, 1)] is LogDirNotFoundError


def test_unregister_broker(cluster_broker) -> None:
    with RawClient(cluster_broker.bootstrap) as c:
        assert c.request(64, 0, {"broker_id": 42})["error_code"] == 102  # BROKER_ID_NOT_REGISTERED
        assert c.request(64, 0, {"broker_id": 1})["error_code"] == 0
        assert c.request(3, 12, {"topics": None, "allow_auto_topic_creation": False,
                                 "include_topic_authorized_operations": False})["brokers"][0]["node_id"] == 1
