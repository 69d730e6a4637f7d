"""Time retention on a live broker (log.retention.check.interval.ms=200): a topic with retention.ms=2000 and
segment.ms=500 loses its old segments while it is written, its log start offset moves, and consumers left
behind are reset as their auto.offset.reset says; once writes stop, everything goes."""
from __future__ import annotations

import threading
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic,
                                   ResourceType)

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


def set_retention(admin: AdminClient, topic: str, value: str) -> None:
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", value, incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(30)


def test_retention_moves_log_start_and_resets_consumers(fast_broker: BrokerProcess, raw: RawClient) -> None:
    topic = unique("retention")
    admin = AdminClient({"bootstrap.servers": fast_broker.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1, config={"retention.ms": "2000", "segment.ms": "500"})])[topic].result(30)
    producer = Producer({"bootstrap.servers": fast_broker.bootstrap, "linger.ms": 0})
    stop = threading.Event()
    sent = 0

    def write() -> None:  # new records all along, so that there is always something young enough to read
        nonlocal sent
        while not stop.is_set():
            producer.produce(topic, key=b"k", value=b"v%d" % sent)
            producer.poll(0)
            sent += 1
            time.sleep(0.02)
        producer.flush(30)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    time.sleep(3.5)
    stop.set()
    writer.join(30)

    error, start = list_offset(raw, topic, 0, -2)
    assert error == 0
    wait_until(lambda: list_offset(raw, topic, 0, -2)[1] > 0, 10, what="the log start offset to move")
    start = list_offset(raw, topic, 0, -2)[1]
    assert 0 < start < sent
    # hold retention still while consumers look (each reset would otherwise chase a start offset that moves
    # every 500 ms, as against Kafka with the same settings); a live config change
    set_retention(admin, topic, "600000")
    time.sleep(0.5)
    start = list_offset(raw, topic, 0, -2)[1]

    # raw: below the log start is out of range, with the new start in the answer
    below = fetch(raw, topic, 0, 0)
    assert below["error_code"] == 1 and below["log_start_offset"] >= start

    # librdkafka, earliest: reset to the (new) start
    earliest = Consumer({"bootstrap.servers": fast_broker.bootstrap, "group.id": unique("g"),
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    earliest.assign([TopicPartition(topic, 0, 0)])
    msg = first_message(earliest)
    assert msg.error() is None and msg.offset() == start
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

    # with nothing written any more, the whole log ages out (the active segment is rolled to go too)
    set_retention(admin, topic, "2000")
    end = list_offset(raw, topic, 0, -1)[1]
    wait_until(lambda: list_offset(raw, topic, 0, -2)[1] == end, 10, what="the whole log to expire")
    assert fetch(raw, topic, 0, end)["error_code"] == 0
