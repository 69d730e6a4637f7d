"""kafka-python (its own protocol implementation): producer, consumer without a group, admin client."""
from __future__ import annotations

import pytest

kafka = pytest.importorskip("kafka")
from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.admin import KafkaAdminClient, NewTopic  # noqa: E402


def test_produce_consume_roundtrip(shared_broker) -> None:
    topic = "kafka-python-rt"
    producer = KafkaProducer(bootstrap_servers=shared_broker.bootstrap, acks="all", request_timeout_ms=30000)
    futures = [producer.send(topic, key=b"k%d" % (i % 10), value=b"v%d" % i, headers=[("h", b"%d" % i)])
               for i in range(2000)]
    producer.flush(60)
    metas = [f.get(timeout=60) for f in futures]
    assert all(m.topic == topic for m in metas)
    producer.close(10)

    consumer = KafkaConsumer(bootstrap_servers=shared_broker.bootstrap, enable_auto_commit=False,
                             auto_offset_reset="earliest", consumer_timeout_ms=10000)
    consumer.assign([TopicPartition(topic, 0)])
    got = []
    for msg in consumer:
        got.append(msg)
        if len(got) == 2000:
            break
    consumer.close()
    assert [m.value for m in got] == [b"v%d" % i for i in range(2000)]
    assert [m.key for m in got[:3]] == [b"k0", b"k1", b"k2"]
    assert got[5].headers == [("h", b"5")]
    assert [m.offset for m in got] == list(range(2000))


def test_admin_create_and_delete(shared_broker) -> None:
    admin = KafkaAdminClient(bootstrap_servers=shared_broker.bootstrap, request_timeout_ms=30000)
    admin.create_topics([NewTopic("kp-admin", num_partitions=3, replication_factor=1)])
    assert "kp-admin" in admin.list_topics()
    admin.delete_topics(["kp-admin"])
    assert "kp-admin" not in admin.list_topics()
    admin.close()
