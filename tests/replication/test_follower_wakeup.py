"""A follower's long-poll Fetch on the leader returns as soon as the leader's log grows (Kafka's DelayedFetch
completes on an append for a replica fetch, whose limit is the log end, not the high watermark). Before, a
waiting follower fetch only measured bytes below the high watermark, which cannot move until that very follower
fetches again: every acks=all produce and every OffsetCommit waited out `replica.fetch.wait.max.ms` (500 ms by
default; 30 s here, longer than the clients' timeouts, so the old behaviour fails the delivery / the commit)."""
from __future__ import annotations

import pytest

LONG_POLL = {"replica.fetch.wait.max.ms": "30000", "min.insync.replicas": "2"}


@pytest.mark.kafka_cluster(brokers=3, config=LONG_POLL)
def test_acks_all_and_commits_complete_while_followers_long_poll(kafka_cluster) -> None:
    confluent_kafka = pytest.importorskip("confluent_kafka")
    kafka_cluster.create_topic("wake", partitions=1, replication_factor=3)
    kafka_cluster.wait_for_isr("wake", 0, {1, 2, 3})

    producer = confluent_kafka.Producer({"bootstrap.servers": kafka_cluster.bootstrap, "acks": "all",
                                         "linger.ms": 0, "message.timeout.ms": 10000, "retries": 0})
    reports: list = []
    for i in range(5):  # one at a time: each must be acknowledged by the ISR, not by a long poll running out
        producer.produce("wake", value=f"m{i}".encode(), on_delivery=lambda err, msg: reports.append((err, msg)))
        assert producer.flush(20) == 0
    assert [err for err, _ in reports] == [None] * 5
    assert [msg.offset() for _, msg in reports] == [0, 1, 2, 3, 4]

    consumer = confluent_kafka.Consumer({"bootstrap.servers": kafka_cluster.bootstrap, "group.id": "wake-group",
                                         "enable.auto.commit": False, "socket.timeout.ms": 10000})
    try:
        for offset in (1, 3, 5):  # OffsetCommit is answered once the offsets partition's ISR has it
            committed = consumer.commit(offsets=[confluent_kafka.TopicPartition("wake", 0, offset)],
                                        asynchronous=False)
            assert [(tp.offset, tp.error) for tp in committed] == [(offset, None)]
        got = consumer.committed([confluent_kafka.TopicPartition("wake", 0)], timeout=15)
        assert got[0].offset == 5
    finally:
        consumer.close()
