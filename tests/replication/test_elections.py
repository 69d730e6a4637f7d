"""Leader elections on request (ElectLeaders, preferred and unclean) and the controller's automatic return of
leadership to preferred replicas (auto.leader.rebalance.enable)."""
from __future__ import annotations

import pytest

from kbroker.testing.client import WireClient
from wire.errors import ErrorCode

confluent_kafka = pytest.importorskip("confluent_kafka")
import confluent_kafka.admin  # noqa: E402


def _preferred(cluster, topic: str, index: int) -> int:  # type: ignore[no-untyped-def]
    return cluster.call(cluster.alive[0], lambda b: b.cluster.md.replicas_of(topic, index)[0])


@pytest.mark.kafka_cluster(brokers=3, session_timeout_ms=1000, config={"auto.leader.rebalance.enable": "false"})
def test_elect_leaders_restores_the_preferred_leader(kafka_cluster) -> None:
    cluster = kafka_cluster
    cluster.create_topic("elect", replication_factor=3)
    preferred = _preferred(cluster, "elect", 0)
    assert cluster.leader("elect", 0) == preferred
    cluster.stop(preferred)
    cluster.wait_for_leader("elect", 0, not_in={preferred})
    cluster.start(preferred)
    cluster.wait_for_isr("elect", 0, {1, 2, 3})
    assert cluster.leader("elect", 0) != preferred  # nothing moves it back by itself here
    admin = confluent_kafka.admin.AdminClient({"bootstrap.servers": cluster.bootstrap})
    tp = confluent_kafka.TopicPartition("elect", 0)
    result = admin.elect_leaders(confluent_kafka.ElectionType.PREFERRED, [tp]).result(15)
    assert result[tp] is None  # no error
    assert cluster.leader("elect", 0) == preferred
    again = admin.elect_leaders(confluent_kafka.ElectionType.PREFERRED, [tp]).result(15)
    assert again[tp].code() == confluent_kafka.KafkaError.ELECTION_NOT_NEEDED


@pytest.mark.kafka_cluster(brokers=3, session_timeout_ms=1000)
def test_unclean_election_on_request_brings_an_offline_partition_back(kafka_cluster) -> None:
    cluster = kafka_cluster
    with WireClient(cluster.bootstrap_of(3)) as client:
        body = {"topics": [{"name": "revive", "num_partitions": -1, "replication_factor": -1,
                            "assignments": [{"partition_index": 0, "broker_ids": [1, 2]}], "configs": []}],
                "timeout_ms": 10000, "validate_only": False}
        assert client.request(19, 5, body)["topics"][0]["error_code"] == 0
    cluster.wait_for_isr("revive", 0, {1, 2})
    cluster.stop(2)
    cluster.wait_for_isr("revive", 0, {1})
    cluster.stop(1)
    cluster.start(2)
    cluster.wait_for(lambda: cluster.leader("revive", 0) == -1, 10, "the partition to stay offline")
    election = {"election_type": 1, "topic_partitions": [{"topic": "revive", "partitions": [0]}],
                "timeout_ms": 10000}
    with WireClient(cluster.bootstrap_of(3)) as client:
        preferred = client.request(43, 1, {**election, "election_type": 0})
        assert preferred["replica_election_results"][0]["partition_result"][0]["error_code"] == \
            ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE
        answer = client.request(43, 1, election)
    assert answer["replica_election_results"][0]["partition_result"][0]["error_code"] == 0
    assert cluster.leader("revive", 0) == 2
    assert cluster.isr("revive", 0) == [2]


@pytest.mark.kafka_cluster(brokers=3, session_timeout_ms=1000,
                           config={"leader.imbalance.check.interval.seconds": "1"})
def test_auto_leader_rebalance_gives_leadership_back_to_the_preferred_replica(kafka_cluster) -> None:
    cluster = kafka_cluster
    cluster.create_topic("rebalance", replication_factor=3)
    preferred = _preferred(cluster, "rebalance", 0)
    cluster.kill(preferred)
    cluster.wait_for_leader("rebalance", 0, not_in={preferred})
    cluster.start(preferred)
    cluster.wait_for(lambda: cluster.leader("rebalance", 0) == preferred, 20, "the preferred leader to return")
