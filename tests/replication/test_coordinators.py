"""Group coordination in a cluster: __consumer_offsets is replicated (offsets.topic.replication.factor, capped by
the live brokers), the coordinator is the leader of the group's partition, and committed offsets survive the loss
of the coordinator's broker (the new leader loads them; the old one answers NOT_COORDINATOR)."""
from __future__ import annotations

import time

import pytest

from kbroker.coordinator.records import partition_for
from kbroker.testing.client import WireClient
from wire.errors import ErrorCode

confluent_kafka = pytest.importorskip("confluent_kafka")


def _consumer(bootstrap: str, group: str):  # type: ignore[no-untyped-def]
    return confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                                     "enable.auto.commit": False, "auto.offset.reset": "earliest",
                                     "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})


def _poll_values(consumer, count: int, timeout: float = 30.0) -> list[tuple[int, bytes]]:  # type: ignore[no-untyped-def]
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(got) < count:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            got.append((msg.offset(), msg.value()))
    return got


@pytest.mark.kafka_cluster(brokers=3, session_timeout_ms=1000)
def test_committed_offsets_survive_the_loss_of_the_coordinator(kafka_cluster) -> None:
    cluster = kafka_cluster
    cluster.create_topic("grp", replication_factor=3)
    producer = confluent_kafka.Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for i in range(20):
        producer.produce("grp", b"m%d" % i, partition=0)
    assert producer.flush(30) == 0

    first = _consumer(cluster.bootstrap, "survivors")
    first.subscribe(["grp"])
    got = _poll_values(first, 10)
    assert len(got) >= 10
    first.commit(offsets=[confluent_kafka.TopicPartition("grp", 0, 10)], asynchronous=False)
    first.close()

    partitions = cluster.call(cluster.alive[0], lambda b: b.topic("__consumer_offsets").partitions)
    offsets_partition = partition_for("survivors", partitions)
    assert len(cluster.isr("__consumer_offsets", offsets_partition)) == 3
    coordinator = cluster.leader("__consumer_offsets", offsets_partition)
    cluster.kill(coordinator)
    new = cluster.wait_for_leader("__consumer_offsets", offsets_partition, not_in={coordinator})

    second = _consumer(cluster.bootstrap, "survivors")
    try:
        second.subscribe(["grp"])
        resumed = _poll_values(second, 1)
        assert resumed and resumed[0] == (10, b"m10")
        committed = second.committed([confluent_kafka.TopicPartition("grp", 0)], timeout=10)
        assert committed[0].offset == 10
    finally:
        second.close()

    cluster.start(coordinator)  # back as a follower of the offsets partition: no longer the coordinator
    cluster.wait_for_isr("__consumer_offsets", offsets_partition, {1, 2, 3})
    with WireClient(cluster.bootstrap_of(coordinator)) as client:
        body = {"group_id": "survivors", "topics": [{"name": "grp", "partition_indexes": [0]}],
                "require_stable": False}
        answer = client.request(9, 7, body)
    assert answer["error_code"] == ErrorCode.NOT_COORDINATOR
    assert new != coordinator
