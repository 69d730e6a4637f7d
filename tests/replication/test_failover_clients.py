"""A real client through broker failures: confluent-kafka's idempotent acks=all producer keeps sending to a
partition with replication factor 3 and min.insync.replicas=2 while a random broker (the partition's leader, a
follower, or the controller) is killed and restarted, round after round. Afterwards every acknowledged message is
in the partition exactly once, in order, at the offset it was acknowledged with, every broker is back in the
ISR, and a consumer in a group (whose coordinator moves with the kills too) has read every acknowledged message."""
from __future__ import annotations

import random
import threading
import time

import pytest

confluent_kafka = pytest.importorskip("confluent_kafka")

ROUNDS = 10


def _read_all(bootstrap: str, topic: str, expected: int, timeout: float = 30.0) -> list[tuple[int, int]]:
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{time.time()}",
                                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer.assign([confluent_kafka.TopicPartition(topic, 0, 0)])
    got: list[tuple[int, int]] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len(got) < expected:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            got.append((int(msg.value()), msg.offset()))
    finally:
        consumer.close()
    return got


@pytest.mark.kafka_cluster(brokers=3, session_timeout_ms=1000)
def test_idempotent_acks_all_producer_survives_repeated_kills(kafka_cluster) -> None:
    cluster = kafka_cluster
    cluster.create_topic("failover", partitions=1, replication_factor=3, config={"min.insync.replicas": "2"})
    acked: list[tuple[int, int]] = []
    errors: list[str] = []
    producer = confluent_kafka.Producer({
        "bootstrap.servers": cluster.bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5,
        "message.timeout.ms": 120000, "topic.metadata.refresh.interval.ms": 1000, "retry.backoff.ms": 50,
        "reconnect.backoff.max.ms": 200,
    })
    stop = threading.Event()

    def delivered(err, msg) -> None:  # type: ignore[no-untyped-def]
        if err is not None:
            errors.append(str(err))
        else:
            acked.append((int(msg.value()), msg.offset()))

    def send() -> None:
        sequence = 0
        while not stop.is_set():
            try:
                producer.produce("failover", str(sequence).encode(), partition=0, on_delivery=delivered)
                sequence += 1
            except BufferError:
                pass
            producer.poll(0.002)
        producer.flush(60)

    consumed: list[int] = []

    def consume() -> None:
        consumer = confluent_kafka.Consumer({
            "bootstrap.servers": cluster.bootstrap, "group.id": "loop-readers", "auto.offset.reset": "earliest",
            "enable.auto.commit": True, "auto.commit.interval.ms": 200, "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500, "topic.metadata.refresh.interval.ms": 1000,
            "reconnect.backoff.max.ms": 200})
        consumer.subscribe(["failover"])
        try:
            while not reader_stop.is_set():
                msg = consumer.poll(0.2)
                if msg is not None and not msg.error():
                    consumed.append(int(msg.value()))
        finally:
            consumer.close()

    reader_stop = threading.Event()
    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    rng = random.Random(10)
    kinds = []
    try:
        for _ in range(ROUNDS):
            before = len(acked)
            cluster.wait_for(lambda: len(acked) > before + 20, 30, "acknowledgements before the next kill")
            leader = cluster.leader("failover", 0)
            kind = rng.choice(["leader", "follower", "controller"])
            victim = {"leader": leader, "controller": cluster.controller(),
                      "follower": rng.choice([b for b in cluster.alive if b != leader])}[kind]
            kinds.append(kind)
            cluster.kill(victim)
            cluster.wait_for_leader("failover", 0, not_in={victim}, timeout=30)
            cluster.start(victim)
            cluster.wait_for_isr("failover", 0, {1, 2, 3}, timeout=30)
        before = len(acked)
        cluster.wait_for(lambda: len(acked) > before + 20, 30, "acknowledgements after the last round")
    finally:
        stop.set()
        sender.join(90)
    assert not sender.is_alive()
    everything = {value for value, _ in acked}
    try:
        cluster.wait_for(lambda: everything <= set(consumed), 60, "the group's consumer to read everything")
    finally:
        reader_stop.set()
        reader.join(30)
    assert errors == []
    assert len(acked) > ROUNDS * 20
    assert set(kinds) == {"leader", "follower", "controller"}
    got = _read_all(cluster.bootstrap, "failover", len(acked))
    values = [v for v, _ in got]
    assert len(values) == len(set(values)), "a message was written twice"
    assert values == sorted(values), "messages out of order"
    offsets = dict(got)
    assert all(offsets.get(value) == offset for value, offset in acked), "an acknowledged message is missing"
    assert set(cluster.isr("failover", 0)) == {1, 2, 3}
