"""DeleteRecords through confluent-kafka, kafka-python and raw frames: the new low watermark, ListOffsets earliest,
OFFSET_OUT_OF_RANGE below it, -1 for the high watermark, and the errors Kafka gives."""
from __future__ import annotations

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from tests.admin.conftest import create_topic, fetch, list_offset, produce, unique
from tests.conftest import BrokerProcess
from tests.rawclient import RawClient
from wire.records import batch_from_tuples


def fill(raw: RawClient, topic: str, count: int, partition: int = 0) -> None:
    for i in range(count):
        assert produce(raw, topic, partition, batch_from_tuples([(b"k%d" % i, b"v%d" % i, None, None)]))["error_code"] == 0


def test_confluent_delete_records_then_list_offsets(fast_broker: BrokerProcess, raw: RawClient) -> None:
    topic = unique("dr")
    admin = AdminClient({"bootstrap.servers": fast_broker.bootstrap})
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(30)
    fill(raw, topic, 10, 0)
    fill(raw, topic, 4, 1)
    result = admin.delete_records([TopicPartition(topic, 0, 6)])
    deleted = list(result.values())[0].result(30)
    assert deleted.low_watermark == 6
    earliest = admin.list_offsets({TopicPartition(topic, 0): OffsetSpec.earliest()})
    assert list(earliest.values())[0].result(30).offset == 6
    assert list_offset(raw, topic, 0, -2) == (0, 6)
    assert list_offset(raw, topic, 0, -1) == (0, 10)
    below = fetch(raw, topic, 0, 5)
    assert below["error_code"] == 1 and below["log_start_offset"] == 6
    at = fetch(raw, topic, 0, 6)
    assert at["error_code"] == 0 and at["records"] and at["log_start_offset"] == 6

    # a consumer starting from the beginning starts at the new low watermark
    consumer = Consumer({"bootstrap.servers": fast_broker.bootstrap, "group.id": unique("g"),
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    msg = None
    for _ in range(50):
        msg = consumer.poll(0.2)
        if msg is not None and not msg.error():
            break
    consumer.close()
    assert msg is not None and msg.offset() == 6 and msg.value() == b"v6"

    # -1: everything up to the high watermark
    result = admin.delete_records([TopicPartition(topic, 1, -1)])
    assert list(result.values())[0].result(30).low_watermark == 4
    assert list_offset(raw, topic, 1, -2) == (0, 4)

    # beyond the high watermark
    result = admin.delete_records([TopicPartition(topic, 0, 11)])
    try:
        list(result.values())[0].result(30)
        raise AssertionError("deleting beyond the high watermark succeeded")
    except KafkaException as exc:
        assert exc.args[0].code() == 1  # OFFSET_OUT_OF_RANGE


def test_raw_delete_records_errors(raw: RawClient) -> None:
    topic, compacted = unique("drr"), unique("drc")
    create_topic(raw, topic)
    create_topic(raw, compacted, configs={"cleanup.policy": "compact"})
    fill(raw, topic, 3)
    body = {"topics": [{"name": topic, "partitions": [{"partition_index": 0, "offset": 2},
                                                      {"partition_index": 5, "offset": 0}]},
                       {"name": compacted, "partitions": [{"partition_index": 0, "offset": 0}]},
                       {"name": unique("missing"), "partitions": [{"partition_index": 0, "offset": 0}]}],
            "timeout_ms": 1000}
    for version in (0, 1, 2):
        response = raw.request(21, version, body)
        by_name = {t["name"]: t["partitions"] for t in response["topics"]}
        assert [(p["error_code"], p["low_watermark"]) for p in by_name[topic]] == [(0, 2), (3, -1)]
        assert by_name[compacted][0]["error_code"] == 44  # POLICY_VIOLATION
        assert list(by_name.values())[2][0]["error_code"] == 3


def test_kafka_python_delete_records(fast_broker: BrokerProcess, raw: RawClient) -> None:
    from kafka import TopicPartition as KTopicPartition
    from kafka.admin import KafkaAdminClient

    topic = unique("drk")
    create_topic(raw, topic)
    fill(raw, topic, 5)
    admin = KafkaAdminClient(bootstrap_servers=fast_broker.bootstrap)
    try:
        result = admin.delete_records({KTopicPartition(topic, 0): 3})
        assert result[KTopicPartition(topic, 0)]["low_watermark"] == 3
    finally:
        admin.close()
    assert list_offset(raw, topic, 0, -2) == (0, 3)
