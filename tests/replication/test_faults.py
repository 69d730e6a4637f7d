"""Replication under the faults the kafka_cluster fixture injects: a follower that missed writes, an old leader
holding a diverging tail, an isolated leader, and an offline partition with and without unclean election."""
from __future__ import annotations

import time

import pytest

from kbroker.testing.client import KafkaRequestError, WireClient, entries_of
from wire.errors import ErrorCode

confluent_kafka = pytest.importorskip("confluent_kafka")
import confluent_kafka.admin  # noqa: E402


def _log_end(cluster, broker_id: int, topic: str) -> int:  # type: ignore[no-untyped-def]
    return cluster.call(broker_id, lambda b: b.partition(topic, 0).log.log_end_offset)


def _values(cluster, broker_id: int, topic: str) -> list[bytes]:  # type: ignore[no-untyped-def]
    """Every record value in a replica's log, read from the log itself (white box: followers serve no clients)."""
    from wire import records as rec

    def read(b):  # type: ignore[no-untyped-def]
        plog = b.partition(topic, 0).log
        data = bytes(plog.read(plog.log_start_offset, 1 << 24, max_offset=plog.log_end_offset,
                               min_one_batch=True).records)
        out, pos = [], 0
        while pos + rec.HEADER_SIZE <= len(data):
            header = rec.parse_header(data, pos)
            if not header.is_control:
                out.extend(bytes(r.value) for r in rec.iter_records(data, pos))
            pos += header.size
        return out
    return cluster.call(broker_id, read)


def _consume(bootstrap: str, topic: str, expected: int, timeout: float = 20.0) -> list[bytes]:
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{time.time()}",
                                         "enable.auto.commit": False})
    consumer.assign([confluent_kafka.TopicPartition(topic, 0, 0)])
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len(got) < expected:
            msg = consumer.poll(0.3)
            if msg is not None and not msg.error():
                got.append(msg.value())
        end = time.monotonic() + 1.0
        while time.monotonic() < end:  # nothing more arrives
            msg = consumer.poll(0.2)
            if msg is not None and not msg.error():
                got.append(msg.value())
    finally:
        consumer.close()
    return got


def _produce(bootstrap: str, topic: str, values: list[bytes], acks: str = "all") -> None:
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "acks": acks, "enable.idempotence": False,
                                         "message.timeout.ms": 30000})
    failures: list = []
    for value in values:
        producer.produce(topic, value, partition=0,
                         on_delivery=lambda err, _msg: failures.append(err) if err else None)
    assert producer.flush(30) == 0
    assert failures == []


@pytest.mark.kafka_cluster(brokers=3, session_timeout_ms=1000)
def test_follower_that_missed_writes_catches_up_and_rejoins_the_isr(kafka_cluster) -> None:
    cluster = kafka_cluster
    cluster.create_topic("catchup", replication_factor=3, config={"min.insync.replicas": "2"})
    leader = cluster.leader("catchup", 0)
    follower = next(b for b in cluster.alive if b != leader)
    _produce(cluster.bootstrap, "catchup", [b"before-%d" % i for i in range(20)])
    cluster.stop(follower)
    cluster.wait_for_isr("catchup", 0, set(cluster.alive))  # a stopped broker leaves the ISR at once
    _produce(cluster.bootstrap, "catchup", [b"missed-%d" % i for i in range(200)])  # 2 of 3 in sync: accepted
    end = _log_end(cluster, leader, "catchup")
    assert end == 220
    cluster.start(follower)
    cluster.wait_for_isr("catchup", 0, {1, 2, 3})
    assert _log_end(cluster, follower, "catchup") == end
    assert _values(cluster, follower, "catchup") == _values(cluster, leader, "catchup")


@pytest.mark.kafka_cluster(brokers=3, session_timeout_ms=1000)
def test_diverging_tail_of_an_isolated_leader_is_truncated(kafka_cluster) -> None:
    cluster = kafka_cluster
    cluster.create_topic("diverge", replication_factor=3)
    _produce(cluster.bootstrap, "diverge", [b"committed-%d" % i for i in range(10)])
    old = cluster.leader("diverge", 0)
    cluster.wait_for(lambda: all(_log_end(cluster, b, "diverge") == 10 for b in cluster.alive), 10, "replication")
    cluster.isolate(old)
    with WireClient(cluster.bootstrap_of(old)) as client:  # the old leader still thinks it leads: acks=1 lands
        assert client.produce("diverge", 0, entries_of([b"diverged-1", b"diverged-2"]), acks=1) == 10
    assert _log_end(cluster, old, "diverge") == 12
    new = cluster.wait_for_leader("diverge", 0, not_in={old})
    others = [b for b in cluster.alive if b != old]
    _produce(",".join(cluster.bootstrap_of(b) for b in others), "diverge", [b"new-%d" % i for i in range(5)])
    cluster.heal(old)
    cluster.wait_for_isr("diverge", 0, {1, 2, 3})
    expected = [b"committed-%d" % i for i in range(10)] + [b"new-%d" % i for i in range(5)]
    cluster.wait_for(lambda: _values(cluster, old, "diverge") == expected, 10, "the old leader to match")
    assert _values(cluster, new, "diverge") == expected
    consumed = _consume(cluster.bootstrap, "diverge", len(expected))
    assert consumed == expected
    assert not any(v.startswith(b"diverged") for v in consumed)


@pytest.mark.kafka_cluster(brokers=3, session_timeout_ms=1500)
def test_isolated_leader_cannot_acknowledge_acks_all(kafka_cluster) -> None:
    cluster = kafka_cluster
    cluster.create_topic("isolated", replication_factor=3)
    leader = cluster.leader("isolated", 0)
    cluster.isolate(leader)
    with WireClient(cluster.bootstrap_of(leader)) as client:
        with pytest.raises(KafkaRequestError) as refused:
            client.produce("isolated", 0, entries_of([b"never-acknowledged"]), acks=-1)
    assert refused.value.code in (ErrorCode.REQUEST_TIMED_OUT, ErrorCode.NOT_ENOUGH_REPLICAS,
                                  ErrorCode.NOT_LEADER_OR_FOLLOWER)
    cluster.wait_for_leader("isolated", 0, not_in={leader})
    assert leader not in cluster.isr("isolated", 0)
    cluster.heal(leader)
    cluster.wait_for_isr("isolated", 0, {1, 2, 3})


@pytest.mark.kafka_cluster(brokers=3, session_timeout_ms=1000)
def test_offline_partition_waits_for_the_isr_unless_unclean_election_is_enabled(kafka_cluster) -> None:
    cluster = kafka_cluster
    with WireClient(cluster.bootstrap_of(1)) as client:
        body = {"topics": [{"name": "unclean", "num_partitions": -1, "replication_factor": -1,
                            "assignments": [{"partition_index": 0, "broker_ids": [1, 2]}], "configs": []}],
                "timeout_ms": 10000, "validate_only": False}
        assert client.request(19, 5, body)["topics"][0]["error_code"] == 0
    cluster.wait_for_isr("unclean", 0, {1, 2})
    assert cluster.leader("unclean", 0) == 1
    cluster.stop(2)
    cluster.wait_for_isr("unclean", 0, {1})
    cluster.stop(1)
    cluster.wait_for(lambda: cluster.leader("unclean", 0) == -1, 10, "the partition to go offline")
    cluster.start(2)
    time.sleep(1.0)  # the controller has seen broker 2 come back (and must not elect it)
    assert cluster.leader("unclean", 0) == -1
    admin = confluent_kafka.admin.AdminClient({"bootstrap.servers": cluster.bootstrap})
    entry = confluent_kafka.admin.ConfigEntry("unclean.leader.election.enable", "true",
                                              incremental_operation=confluent_kafka.admin.AlterConfigOpType.SET)
    resource = confluent_kafka.admin.ConfigResource("topic", "unclean", incremental_configs=[entry])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(10)
    assert cluster.wait_for_leader("unclean", 0) == 2
    assert cluster.isr("unclean", 0) == [2]


def _isr_expands(cluster, broker_id: int) -> int:  # type: ignore[no-untyped-def]
    return cluster.call(broker_id, lambda b: b.cluster.replicas.isr_expands)


@pytest.mark.kafka_cluster(brokers=3, session_timeout_ms=1000)
def test_dead_follower_is_not_put_back_into_the_isr_of_an_idle_partition(kafka_cluster) -> None:
    """Kafka adds a follower back to the ISR only on a fetch that reaches the leader's log end; what a dead broker
    fetched before it died must not bring it back after the controller dropped it (it did, about once a second)."""
    cluster = kafka_cluster
    cluster.create_topic("idle", replication_factor=3, config={"min.insync.replicas": "2"})
    _produce(cluster.bootstrap, "idle", [b"v-%d" % i for i in range(5)])
    leader = cluster.leader("idle", 0)
    follower = next(b for b in cluster.alive if b != leader)
    cluster.wait_for(lambda: _log_end(cluster, follower, "idle") == 5, 10, "the follower to catch up")
    cluster.kill(follower)  # its session expires after 1 s; the controller then drops it from the ISR
    cluster.wait_for_isr("idle", 0, set(cluster.alive))
    dropped = cluster.state("idle", 0)
    expands = _isr_expands(cluster, leader)
    deadline = time.monotonic() + 4.0  # the leader's ISR check runs every 1 s (replica.lag.time.max.ms / 2)
    while time.monotonic() < deadline:
        state = cluster.state("idle", 0)
        assert follower not in state.isr
        assert state.version == dropped.version, f"the ISR was rewritten: {dropped} -> {state}"
        time.sleep(0.05)
    assert _isr_expands(cluster, leader) == expands
    cluster.start(follower)  # a new fetch that reaches the leader's log end brings it back
    cluster.wait_for_isr("idle", 0, {1, 2, 3})
    assert _isr_expands(cluster, leader) == expands + 1
    _produce(cluster.bootstrap, "idle", [b"after-%d" % i for i in range(5)])
    cluster.wait_for(lambda: _log_end(cluster, follower, "idle") == 10, 10, "the restarted follower to replicate")
