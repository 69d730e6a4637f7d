"""Time retention on a live broker (log.retention.check.interval.ms=200): a topic with retention.ms=2000 and
segment.ms=500 loses its old segments while it is written, its log start offset moves, and consumers left
behind are reset as their auto.offset.reset says; once writes stop, everything goes."""
from __future__ import annotations

import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.admin.conftest import fetch, list_offset, unique, wait_until
from tests.conftest import BrokerProcess
from tests.rawclient import RawClient


def first_message(consumer: Consumer, timeout: float = 15) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            return msg
        return msg
    raise AssertionError("no message")


def test_retention_moves_log_start_and_resets_consumers(fast_broker: BrokerProcess, raw: RawClient) -> None:
    topic = unique("retention")
    admin = AdminClient({"bootstrap.servers": fast_broker.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1, config={"retention.ms": "2000", "segment.ms": "500"})])[topic].result(30)
    producer = Producer({"bootstrap.servers": fast_broker.bootstrap, "linger.ms": 0})
    deadline = time.monotonic() + 3.5
    sent = 0
    while time.monotonic() < deadline:
        producer.produce(topic, key=b"k", value=b"v%d" % sent)
        producer.poll(0)
        sent += 1
        time.sleep(0.02)
    assert producer.flush(30) == 0

    error, start = list_offset(raw, topic, 0, -2)
    assert error == 0
    wait_until(lambda: list_offset(raw, topic, 0, -2)[1] > 0, 10, what="the log start offset to move")
    start = list_offset(raw, topic, 0, -2)[1]
    assert 0 < start < sent

    # raw: below the log start is out of range, with the new start in the answer
    below = fetch(raw, topic, 0, 0)
    assert below["error_code"] == 1 and below["log_start_offset"] >= start

    # librdkafka, earliest: reset to the (new) start
    earliest = Consumer({"bootstrap.servers": fast_broker.bootstrap, "group.id": unique("g"),
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    earliest.assign([TopicPartition(topic, 0, 0)])
    msg = first_message(earliest)
    assert msg.error() is None and msg.offset() >= start
    earliest.close()

    # librdkafka, error: the application hears of it
    strict = Consumer({"bootstrap.servers": fast_broker.bootstrap, "group.id": unique("g"),
                       "auto.offset.reset": "error", "enable.auto.commit": False})
    strict.assign([TopicPartition(topic, 0, 0)])
    msg = first_message(strict)
    assert msg.error() is not None and msg.error().code() == KafkaError._AUTO_OFFSET_RESET
    strict.close()

    # kafka-python, latest: jumps to the end
    from kafka import KafkaConsumer, TopicPartition as KTopicPartition

    consumer = KafkaConsumer(bootstrap_servers=fast_broker.bootstrap, auto_offset_reset="latest",
                             enable_auto_commit=False, consumer_timeout_ms=10000)
    tp = KTopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek(tp, 0)
    consumer.poll(timeout_ms=2000)  # the out-of-range fetch, answered by a reset
    end = list_offset(raw, topic, 0, -1)[1]
    assert consumer.position(tp) >= end - 1
    consumer.close()

    # once nothing is written any more, the whole log ages out (the active segment is rolled to go too)
    end = list_offset(raw, topic, 0, -1)[1]
    wait_until(lambda: list_offset(raw, topic, 0, -2)[1] == end, 10, what="the whole log to expire")
    assert fetch(raw, topic, 0, end)["error_code"] == 0
