"""KIP-467: a batch with bad records (keyless on a compacted topic, timestamp out of bounds) fails as a whole, and
the Produce response (v8+) lists each bad record's index and message in `record_errors` and sets the partition's
`error_message`; librdkafka then fails only the bad records with INVALID_RECORD and the others with its
"different record" error (when there is more than one bad record), so an application can resend them."""
from __future__ import annotations

import time

from confluent_kafka import KafkaError, Producer

from tests.admin.conftest import create_topic, list_offset, unique
from tests.conftest import BrokerProcess
from tests.rawclient import RawClient
from wire.records import Record, build_batch

KEYLESS = "Compacted topic cannot accept message without key in topic partition {}-0."


def produce_v(raw: RawClient, version: int, topic: str, batch: bytes) -> dict:
    body = {"transactional_id": None, "acks": -1, "timeout_ms": 5000,
            "topic_data": [{"name": topic, "partition_data": [{"index": 0, "records": batch}]}]}
    return raw.request(0, version, body)["responses"][0]["partition_responses"][0]


def test_keyless_records_on_a_compacted_topic_are_listed(fast_broker: BrokerProcess, raw: RawClient) -> None:
    topic = unique("kip467")
    create_topic(raw, topic, configs={"cleanup.policy": "compact"})
    now = int(time.time() * 1000)
    batch = build_batch([Record(0, 0, b"k", b"a"), Record(1, 0, None, b"b"), Record(2, 0, b"k", b"c"),
                         Record(3, 0, None, b"d")], base_timestamp=now)
    p = produce_v(raw, 9, topic, batch)
    assert p["error_code"] == 87  # INVALID_RECORD
    message = KEYLESS.format(topic)
    assert [(e["batch_index"], e["batch_index_error_message"]) for e in p["record_errors"]] == \
        [(1, message), (3, message)]
    assert p["error_message"] == (
        "One or more records have been rejected due to 2 record errors in total, and only showing the first three "
        f"errors at most: [RecordError(batchIndex=1, message='{message}'), "
        f"RecordError(batchIndex=3, message='{message}')]")
    assert list_offset(raw, topic, 0, -1) == (0, 0)  # nothing of the batch was written
    # before v8 the response has no place for them: the error code alone
    old = produce_v(raw, 7, topic, batch)
    assert old["error_code"] == 87


def test_timestamps_out_of_bounds_are_listed(fast_broker: BrokerProcess, raw: RawClient) -> None:
    topic = unique("kip467ts")
    create_topic(raw, topic, configs={"message.timestamp.after.max.ms": "60000"})
    now = int(time.time() * 1000)
    late = now + 3_600_000
    batch = build_batch([Record(0, 0, b"k", b"a"), Record(1, late - now, b"k", b"b")], base_timestamp=now)
    p = produce_v(raw, 11, topic, batch)
    assert p["error_code"] == 32  # INVALID_TIMESTAMP
    assert p["error_message"] == "One or more records have been rejected due to invalid timestamp"
    [error] = p["record_errors"]
    assert error["batch_index"] == 1
    assert error["batch_index_error_message"].startswith(f"Timestamp {late} of message with offset 1 is out of range.")


def test_librdkafka_fails_only_the_bad_records(fast_broker: BrokerProcess, raw: RawClient) -> None:
    topic = unique("kip467rdk")
    create_topic(raw, topic, configs={"cleanup.policy": "compact"})
    producer = Producer({"bootstrap.servers": fast_broker.bootstrap, "linger.ms": 1000, "retries": 0,
                         "enable.idempotence": False})
    reports: dict[bytes, KafkaError | None] = {}

    def delivered(err: KafkaError | None, msg: object) -> None:
        reports[msg.value()] = err  # type: ignore[attr-defined]

    # one batch (linger holds them together) with two bad records: with a single record error librdkafka fails
    # the whole batch with the partition's error code, with more it tells the bad records from the others
    keys = [b"k0", None, b"k2", None, b"k4"]
    for i, key in enumerate(keys):
        producer.produce(topic, key=key, value=b"v%d" % i, partition=0, on_delivery=delivered)
    producer.flush(30)
    assert len(reports) == len(keys)
    for i, key in enumerate(keys):
        err = reports[b"v%d" % i]
        expected = KafkaError.INVALID_RECORD if key is None else KafkaError._INVALID_DIFFERENT_RECORD
        assert err is not None and err.code() == expected, (i, err)
    assert list_offset(raw, topic, 0, -1) == (0, 0)


def test_librdkafka_fails_only_the_records_with_bad_timestamps(fast_broker: BrokerProcess, raw: RawClient) -> None:
    topic = unique("kip467rdkts")
    create_topic(raw, topic, configs={"message.timestamp.after.max.ms": "60000"})
    producer = Producer({"bootstrap.servers": fast_broker.bootstrap, "linger.ms": 1000, "retries": 0,
                         "enable.idempotence": False})
    reports: dict[bytes, KafkaError | None] = {}
    now = int(time.time() * 1000)
    stamps = [now, now + 3_600_000, now, now + 7_200_000]  # two an hour or more ahead: past the bound
    for i, stamp in enumerate(stamps):
        producer.produce(topic, key=b"k", value=b"v%d" % i, partition=0, timestamp=stamp,
                         on_delivery=lambda err, msg: reports.__setitem__(msg.value(), err))
    producer.flush(30)
    assert len(reports) == len(stamps)
    for i, stamp in enumerate(stamps):
        err = reports[b"v%d" % i]
        # librdkafka reports the records the broker listed as INVALID_RECORD whatever the partition's error
        expected = KafkaError._INVALID_DIFFERENT_RECORD if stamp == now else KafkaError.INVALID_RECORD
        assert err is not None and err.code() == expected, (i, err)
    assert list_offset(raw, topic, 0, -1) == (0, 0)
