"""What clients see of a cluster, request by request: Metadata (brokers, racks, leaders, replicas, ISR, offline
replicas), CreateTopics with a replication factor, NOT_LEADER_OR_FOLLOWER with the KIP-951 current leader,
leader-epoch fencing, min.insync.replicas, and FindCoordinator pointing at the coordinator partition's leader."""
from __future__ import annotations

import pytest

from kbroker.testing.client import KafkaRequestError, WireClient, entries_of
from wire import records as rec
from wire.errors import ErrorCode

confluent_kafka = pytest.importorskip("confluent_kafka")
import confluent_kafka.admin  # noqa: E402


def _metadata(bootstrap: str, topic: str) -> dict:
    with WireClient(bootstrap) as client:
        return client.request(3, 12, {"topics": [{"name": topic, "topic_id": bytes(16)}],
                                      "allow_auto_topic_creation": False,
                                      "include_topic_authorized_operations": False})


@pytest.mark.kafka_cluster(brokers=3, racks={1: "r1", 2: "r2", 3: "r3"})
def test_replication_factor_3_created_and_described_by_an_admin_client(kafka_cluster) -> None:
    cluster = kafka_cluster
    admin = confluent_kafka.admin.AdminClient({"bootstrap.servers": cluster.bootstrap})
    futures = admin.create_topics([confluent_kafka.admin.NewTopic("rf3", num_partitions=6, replication_factor=3)])
    futures["rf3"].result(15)
    too_many = admin.create_topics([confluent_kafka.admin.NewTopic("rf4", num_partitions=1, replication_factor=4)])
    with pytest.raises(confluent_kafka.KafkaException) as refused:
        too_many["rf4"].result(15)
    error = refused.value.args[0]
    assert error.code() == confluent_kafka.KafkaError.INVALID_REPLICATION_FACTOR
    assert "only 3 broker(s) are registered" in error.str()
    for index in range(6):
        cluster.wait_for_isr("rf3", index, {1, 2, 3})
    described = admin.list_topics("rf3", timeout=10)
    assert sorted(described.brokers) == [1, 2, 3]
    partitions = described.topics["rf3"].partitions
    assert len(partitions) == 6
    leaders = set()
    for p in partitions.values():
        assert sorted(p.replicas) == [1, 2, 3] and sorted(p.isrs) == [1, 2, 3]
        assert p.leader == p.replicas[0]  # the preferred replica leads a new partition
        leaders.add(p.leader)
    assert leaders == {1, 2, 3}  # leadership is spread over the brokers
    answer = _metadata(cluster.bootstrap_of(1), "rf3")
    assert {b["node_id"]: b["rack"] for b in answer["brokers"]} == {1: "r1", 2: "r2", 3: "r3"}
    assert answer["controller_id"] == cluster.controller()


@pytest.mark.kafka_cluster(brokers=3, session_timeout_ms=1000)
def test_metadata_lists_offline_replicas_and_shrunk_isr(kafka_cluster) -> None:
    cluster = kafka_cluster
    cluster.create_topic("offline", replication_factor=3)
    follower = next(b for b in cluster.alive if b != cluster.leader("offline", 0))
    cluster.kill(follower)
    cluster.wait_for(lambda: follower not in cluster.isr("offline", 0), 15, "the dead broker to leave the ISR")
    live = next(b for b in cluster.alive)
    answer = _metadata(cluster.bootstrap_of(live), "offline")
    assert follower not in [b["node_id"] for b in answer["brokers"]]
    p = answer["topics"][0]["partitions"][0]
    assert p["offline_replicas"] == [follower]
    assert follower in p["replica_nodes"] and follower not in p["isr_nodes"]


@pytest.mark.kafka_cluster(brokers=3)
def test_requests_to_a_follower_are_refused_with_the_current_leader(kafka_cluster) -> None:
    cluster = kafka_cluster
    cluster.create_topic("routing", replication_factor=3)
    state = cluster.state("routing", 0)
    follower = next(b for b in cluster.alive if b != state.leader)
    batch = rec.batch_from_tuples(entries_of([b"x"]))
    with WireClient(cluster.bootstrap_of(follower)) as client:
        body = {"transactional_id": None, "acks": -1, "timeout_ms": 5000,
                "topic_data": [{"name": "routing", "partition_data": [{"index": 0, "records": batch}]}]}
        answer = client.request(0, 10, body)
        p = answer["responses"][0]["partition_responses"][0]
        assert p["error_code"] == ErrorCode.NOT_LEADER_OR_FOLLOWER
        assert p["current_leader"] == {"leader_id": state.leader, "leader_epoch": state.leader_epoch}
        assert [n["node_id"] for n in answer["node_endpoints"]] == [state.leader]
        with pytest.raises(KafkaRequestError) as fetched:
            client.fetch("routing", 0, 0)
        assert fetched.value.code == ErrorCode.NOT_LEADER_OR_FOLLOWER
        topic_id = cluster.call(follower, lambda b: b.topic("routing").topic_id)
        fetch = {"replica_id": -1, "max_wait_ms": 0, "min_bytes": 1, "max_bytes": 1 << 20, "isolation_level": 0,
                 "session_id": 0, "session_epoch": -1, "forgotten_topics_data": [], "rack_id": "",
                 "topics": [{"topic_id": topic_id, "partitions": [{
                     "partition": 0, "current_leader_epoch": -1, "fetch_offset": 0, "log_start_offset": -1,
                     "partition_max_bytes": 1 << 20}]}]}
        answer = client.request(1, 16, fetch)
        p = answer["responses"][0]["partitions"][0]
        assert p["error_code"] == ErrorCode.NOT_LEADER_OR_FOLLOWER
        assert p["current_leader"] == {"leader_id": state.leader, "leader_epoch": state.leader_epoch}
        assert [n["node_id"] for n in answer["node_endpoints"]] == [state.leader]
    with WireClient(cluster.bootstrap_of(state.leader)) as client:
        assert client.produce("routing", 0, entries_of([b"y"])) == 0
        fetch = {"replica_id": -1, "max_wait_ms": 0, "min_bytes": 1, "max_bytes": 1 << 20, "isolation_level": 0,
                 "session_id": 0, "session_epoch": -1, "forgotten_topics_data": [], "rack_id": "",
                 "topics": [{"topic": "routing", "partitions": [{
                     "partition": 0, "current_leader_epoch": state.leader_epoch + 1, "fetch_offset": 0,
                     "log_start_offset": -1, "partition_max_bytes": 1 << 20}]}]}
        p = client.request(1, 11, fetch)["responses"][0]["partitions"][0]
        assert p["error_code"] == ErrorCode.UNKNOWN_LEADER_EPOCH


@pytest.mark.kafka_cluster(brokers=3, session_timeout_ms=1000)
def test_min_insync_replicas_refuses_acks_all_when_the_isr_is_too_small(kafka_cluster) -> None:
    cluster = kafka_cluster
    cluster.create_topic("minisr", replication_factor=2, config={"min.insync.replicas": "2"})
    leader = cluster.leader("minisr", 0)
    with WireClient(cluster.bootstrap_of(leader)) as client:
        assert client.produce("minisr", 0, entries_of([b"both"])) == 0
        follower = next(b for b in cluster.isr("minisr", 0) if b != leader)
        cluster.stop(follower)
        cluster.wait_for_isr("minisr", 0, {leader})
        with pytest.raises(KafkaRequestError) as refused:
            client.produce("minisr", 0, entries_of([b"only-one"]))
        assert refused.value.code == ErrorCode.NOT_ENOUGH_REPLICAS
        assert client.produce("minisr", 0, entries_of([b"acks-1"]), acks=1) == 1  # acks=1 is not held to it


def test_min_insync_replicas_2_on_a_lone_broker_refuses_acks_all(kafka_broker) -> None:
    """As Kafka: one replica cannot satisfy min.insync.replicas=2, so acks=all is refused (acks=1 is not)."""
    with WireClient(kafka_broker.bootstrap) as client:
        client.create_topic("lone-minisr", config={"min.insync.replicas": "2"})
        with pytest.raises(KafkaRequestError) as refused:
            client.produce("lone-minisr", 0, entries_of([b"x"]))
        assert refused.value.code == ErrorCode.NOT_ENOUGH_REPLICAS
        assert client.produce("lone-minisr", 0, entries_of([b"x"]), acks=1) == 0


@pytest.mark.kafka_cluster(brokers=3)
def test_find_coordinator_points_at_the_leader_of_the_group_partition(kafka_cluster) -> None:
    from kbroker.coordinator.records import partition_for

    cluster = kafka_cluster

    def ask() -> dict | None:
        with WireClient(cluster.bootstrap_of(1)) as client:
            answer = client.request(10, 3, {"key": "my-group", "key_type": 0})
        return answer if answer["error_code"] == 0 else None
    answer = cluster.wait_for(ask, 20, "the group coordinator")
    partitions = cluster.call(1, lambda b: b.topic("__consumer_offsets").partitions)
    leader = cluster.leader("__consumer_offsets", partition_for("my-group", partitions))
    assert answer["node_id"] == leader
    assert answer["port"] == int(cluster.bootstrap_of(leader).rsplit(":", 1)[1])
    replicas = cluster.call(1, lambda b: b.cluster.md.replicas_of("__consumer_offsets", 0))
    assert len(replicas) == 3  # offsets.topic.replication.factor 3 with 3 brokers


@pytest.mark.kafka_cluster(brokers=3, session_timeout_ms=1000)
def test_replication_metrics_under_kafka_names(kafka_cluster) -> None:
    pytest.importorskip("prometheus_client")
    from prometheus_client import CollectorRegistry, generate_latest

    from kbroker.cluster.metrics import families

    cluster = kafka_cluster
    cluster.create_topic("metered", replication_factor=3)
    leader = cluster.leader("metered", 0)
    follower = next(b for b in cluster.alive if b != leader)

    def scrape(broker_id: int) -> str:
        class Collector:
            def collect(self):  # type: ignore[no-untyped-def]
                return list(families(cluster.broker(broker_id)))
        registry = CollectorRegistry()
        registry.register(Collector())
        return cluster.call(broker_id, lambda _b: generate_latest(registry).decode())

    text = scrape(leader)
    assert "kafka_server_replicamanager_underreplicatedpartitions 0.0" in text
    assert "kafka_server_replicamanager_leadercount" in text
    cluster.stop(follower)
    cluster.wait_for_isr("metered", 0, set(cluster.alive))
    text = scrape(leader)
    assert "kafka_server_replicamanager_underreplicatedpartitions 1.0" in text
    controller = cluster.controller()
    assert "kafka_controller_kafkacontroller_activecontrollercount 1.0" in scrape(controller)
    other = next(b for b in cluster.alive if b != controller)
    assert "kafka_controller_kafkacontroller_activecontrollercount 0.0" in scrape(other)


@pytest.mark.kafka_cluster(brokers=3, racks={1: "a", 2: "b", 3: "c"})
def test_describe_cluster_and_topic_partitions_answer_for_the_cluster(kafka_cluster) -> None:
    cluster = kafka_cluster
    cluster.create_topic("described", partitions=2, replication_factor=2)
    with WireClient(cluster.bootstrap_of(2)) as client:
        answer = client.request(60, 1, {"include_cluster_authorized_operations": False, "endpoint_type": 1})
        assert {(b["broker_id"], b["rack"]) for b in answer["brokers"]} == {(1, "a"), (2, "b"), (3, "c")}
        assert answer["controller_id"] == cluster.controller()
        described = client.request(75, 0, {"topics": [{"name": "described"}], "response_partition_limit": 100,
                                           "cursor": None})
    for p in described["topics"][0]["partitions"]:
        state = cluster.state("described", p["partition_index"])
        assert p["leader_id"] == state.leader and p["leader_epoch"] == state.leader_epoch
        assert len(p["replica_nodes"]) == 2 and sorted(p["isr_nodes"]) == sorted(state.isr)


@pytest.mark.kafka_cluster(brokers=3)
def test_topic_changes_reach_every_broker(kafka_cluster) -> None:
    """CreatePartitions (assigned by the cluster or explicitly), AlterConfigs and DeleteTopics made through one
    broker are what every broker answers afterwards."""
    cluster = kafka_cluster
    cluster.create_topic("changing", partitions=1, replication_factor=2)
    admin = confluent_kafka.admin.AdminClient({"bootstrap.servers": cluster.bootstrap_of(1)})
    admin.create_partitions([confluent_kafka.admin.NewPartitions("changing", 3, replica_assignment=[[3, 1], [2, 3]])]
                            )["changing"].result(15)
    cluster.wait_for_leader("changing", 2)
    assert cluster.call(2, lambda b: b.cluster.md.replicas_of("changing", 1)) == [3, 1]
    assert cluster.leader("changing", 2) == 2
    entry = confluent_kafka.admin.ConfigEntry("retention.ms", "12345",
                                              incremental_operation=confluent_kafka.admin.AlterConfigOpType.SET)
    resource = confluent_kafka.admin.ConfigResource("topic", "changing", incremental_configs=[entry])
    list(admin.incremental_alter_configs([resource]).values())[0].result(15)
    for broker_id in cluster.alive:
        cluster.wait_for(lambda b=broker_id: cluster.call(b, lambda br: br.topic("changing").configs.get(
            "retention.ms")) == "12345", 10, f"broker {broker_id} to see the config")
    other = confluent_kafka.admin.AdminClient({"bootstrap.servers": cluster.bootstrap_of(3)})
    described = other.describe_configs([confluent_kafka.admin.ConfigResource("topic", "changing")])
    configs = list(described.values())[0].result(15)
    assert configs["retention.ms"].value == "12345"
    list(admin.delete_topics(["changing"]).values())[0].result(15)
    for broker_id in cluster.alive:
        cluster.wait_for(lambda b=broker_id: cluster.call(b, lambda br: br.topic("changing") is None
                                                          and br.partition("changing", 0) is None), 10,
                         f"broker {broker_id} to drop the topic")


@pytest.mark.kafka_cluster(brokers=3)
def test_delete_records_moves_the_log_start_on_every_replica(kafka_cluster) -> None:
    cluster = kafka_cluster
    cluster.create_topic("trimmed", replication_factor=3)
    leader = cluster.leader("trimmed", 0)
    follower = next(b for b in cluster.alive if b != leader)
    body = {"topics": [{"name": "trimmed", "partitions": [{"partition_index": 0, "offset": 6}]}], "timeout_ms": 5000}
    with WireClient(cluster.bootstrap_of(leader)) as client:
        client.produce("trimmed", 0, entries_of([b"r%d" % i for i in range(10)]))
    with WireClient(cluster.bootstrap_of(follower)) as client:
        refused = client.request(21, 2, body)["topics"][0]["partitions"][0]
        assert refused["error_code"] == ErrorCode.NOT_LEADER_OR_FOLLOWER
    with WireClient(cluster.bootstrap_of(leader)) as client:
        answer = client.request(21, 2, body)["topics"][0]["partitions"][0]
        assert answer["error_code"] == 0 and answer["low_watermark"] == 6
        client.produce("trimmed", 0, entries_of([b"more"]))  # the followers learn the start with their fetches
    for broker_id in cluster.alive:
        cluster.wait_for(lambda b=broker_id: cluster.call(b, lambda br: br.partition("trimmed", 0).log
                                                          .log_start_offset) == 6, 10,
                         f"broker {broker_id} to move its log start")
