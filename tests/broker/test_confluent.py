"""confluent-kafka (librdkafka) against a real kbroker: keyed acks=all produce, assign() consume, admin."""
from __future__ import annotations

import time
import uuid

import pytest

confluent_kafka = pytest.importorskip("confluent_kafka")
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic, OffsetSpec  # noqa: E402

from tests.helpers import produce_blocking  # noqa: E402

TIMEOUT = 120


def produce_keyed(bootstrap: str, topic: str, count: int, compression: str = "none") -> dict[bytes, int]:
    """Send count keyed messages with headers; every delivery report must succeed. Returns key -> partition."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "compression.type": compression,
                  "linger.ms": 5, "batch.num.messages": 10000})
    errors: list = []
    placed: dict[bytes, int] = {}
    delivered = 0

    def report(err, msg) -> None:  # type: ignore[no-untyped-def]
        nonlocal delivered
        if err is not None:
            errors.append(err)
            return
        delivered += 1
        key = msg.key()
        if placed.setdefault(key, msg.partition()) != msg.partition():
            errors.append(f"key {key!r} moved partitions")

    deadline = time.monotonic() + TIMEOUT
    for i in range(count):
        produce_blocking(p, topic, deadline=deadline, key=b"key-%d" % (i % 1000), value=b"value-%d" % i,
                         headers=[("seq", str(i).encode()), ("kind", b"test")], timestamp=1_700_000_000_000 + i,
                         on_delivery=report)
        p.poll(0)
    assert p.flush(TIMEOUT) == 0, "messages still in flight after the timeout"
    assert not errors, errors[:5]
    assert delivered == count
    return placed


def consume_assigned(bootstrap: str, topic: str, partitions: int, expected: int) -> list:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"unused-{uuid.uuid4()}", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out = []
    deadline = time.monotonic() + TIMEOUT
    try:
        while len(out) < expected and time.monotonic() < deadline:
            for msg in c.consume(10000, timeout=1.0):
                if msg.error():
                    assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                    continue
                out.append(msg)
    finally:
        c.close()
    assert len(out) == expected, f"got {len(out)} of {expected}"
    return out


def check_roundtrip(msgs: list, placed: dict[bytes, int], count: int) -> None:
    seen: dict[int, int] = {}
    last_per_partition: dict[int, int] = {}
    for m in msgs:
        i = int(m.value().split(b"-")[1])
        assert m.key() == b"key-%d" % (i % 1000)
        assert m.headers() == [("seq", str(i).encode()), ("kind", b"test")]
        assert m.timestamp()[1] == 1_700_000_000_000 + i
        assert placed[m.key()] == m.partition()
        # within a partition, offsets and the send order agree
        assert last_per_partition.get(m.partition(), -1) < i
        last_per_partition[m.partition()] = i
        seen[i] = seen.get(i, 0) + 1
    assert len(seen) == count and set(seen.values()) == {1}


def create_topic(bootstrap: str, topic: str, partitions: int, config: dict | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fs = admin.create_topics([NewTopic(topic, partitions, 1, config=config or {})], operation_timeout=30)
    fs[topic].result(timeout=30)


@pytest.mark.slow
def test_hundred_thousand_keyed_messages(shared_broker) -> None:
    topic = "confluent-100k"
    create_topic(shared_broker.bootstrap, topic, 4)
    placed = produce_keyed(shared_broker.bootstrap, topic, 100_000)
    msgs = consume_assigned(shared_broker.bootstrap, topic, 4, 100_000)
    check_roundtrip(msgs, placed, 100_000)


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compressed_roundtrip(shared_broker, codec: str) -> None:
    topic = f"confluent-{codec}"
    create_topic(shared_broker.bootstrap, topic, 3)
    placed = produce_keyed(shared_broker.bootstrap, topic, 100_000, codec)
    msgs = consume_assigned(shared_broker.bootstrap, topic, 3, 100_000)
    check_roundtrip(msgs, placed, 100_000)


def test_admin_topics_and_offsets(shared_broker) -> None:
    bootstrap = shared_broker.bootstrap
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topic = "admin-topic"
    fs = admin.create_topics([NewTopic(topic, 3, 1, config={"retention.ms": "86400000", "cleanup.policy": "delete"})])
    fs[topic].result(timeout=30)
    # creating it again is TOPIC_ALREADY_EXISTS
    with pytest.raises(Exception) as info:
        admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(timeout=30)
    assert info.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS
    # a bad config is INVALID_CONFIG, validate_only creates nothing
    with pytest.raises(Exception) as info:
        admin.create_topics([NewTopic("bad-config", 1, 1, config={"no.such.config": "1"})])["bad-config"].result(30)
    assert info.value.args[0].code() == KafkaError.INVALID_CONFIG
    admin.create_topics([NewTopic("only-validated", 1, 1)], validate_only=True)["only-validated"].result(30)
    md = admin.list_topics(timeout=30)
    assert "only-validated" not in md.topics and len(md.topics[topic].partitions) == 3

    admin.create_partitions([NewPartitions(topic, 5)])[topic].result(timeout=30)
    assert len(admin.list_topics(topic, timeout=30).topics[topic].partitions) == 5

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i, ts in enumerate([1000, 2000, 3000]):
        p.produce(topic, value=b"v%d" % i, partition=1, timestamp=ts)
    assert p.flush(30) == 0
    tp = TopicPartition(topic, 1)
    specs = {"earliest": OffsetSpec.earliest(), "latest": OffsetSpec.latest(), "ts": OffsetSpec.for_timestamp(1500),
             "max": OffsetSpec.max_timestamp()}
    got = {}
    for name, spec in specs.items():
        got[name] = admin.list_offsets({tp: spec})[tp].result(timeout=30).offset
    assert got == {"earliest": 0, "latest": 3, "ts": 1, "max": 2}

    admin.delete_topics([topic])[topic].result(timeout=30)
    deadline = time.monotonic() + 30
    while topic in admin.list_topics(timeout=30).topics and time.monotonic() < deadline:
        time.sleep(0.1)
    assert topic not in admin.list_topics(timeout=30).topics
