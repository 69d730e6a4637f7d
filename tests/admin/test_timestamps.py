"""Stored max timestamps are the records' (Kafka's LogValidator recomputes them), and time retention never deletes
a segment whose records carry no timestamp while the segment is younger than retention.ms (Kafka then judges a
segment by its file's modification time).

librdkafka, given timestamp -1, sends records with timestamp -1 under a batch header whose maxTimestamp is 0:
stored as sent, retention took that for 1970 and deleted the data at its next check.
"""
from __future__ import annotations

import time

from confluent_kafka import Producer

from tests.admin.conftest import create_topic, fetch, list_offset, produce, unique, wait_until
from tests.conftest import BrokerProcess
from tests.rawclient import RawClient
from wire.records import Record, build_batch, decode_batch, iter_batches


def stored_headers(raw: RawClient, topic: str) -> list:
    """The header of every stored batch (a fetch stops at a segment's end: fetch on until the log end)."""
    headers: list = []
    offset = 0
    end = list_offset(raw, topic, 0, -1)[1]
    while offset < end:
        data = fetch(raw, topic, 0, offset)["records"] or b""
        assert data, f"nothing stored at {offset}"
        headers += [header for _, header in iter_batches(data)]
        offset = headers[-1].last_offset + 1
    return headers


def test_librdkafka_records_without_timestamps_survive_retention(fast_broker: BrokerProcess, raw: RawClient) -> None:
    topic = unique("nots")
    # retention a minute, a segment per append: before the fix every closed segment was gone within 200 ms
    create_topic(raw, topic, configs={"retention.ms": "60000", "segment.ms": "50"})
    producer = Producer({"bootstrap.servers": fast_broker.bootstrap, "linger.ms": 0})
    for i in range(6):
        producer.produce(topic, key=b"k", value=b"v%d" % i, timestamp=-1)
        assert producer.flush(30) == 0
        time.sleep(0.1)  # past segment.ms: the next append rolls
    assert list_offset(raw, topic, 0, -1) == (0, 6)
    headers = stored_headers(raw, topic)
    assert len(headers) == 6
    assert all(h.max_timestamp == -1 for h in headers), [(h.base_timestamp, h.max_timestamp) for h in headers]
    time.sleep(1.0)  # five retention checks
    assert list_offset(raw, topic, 0, -2) == (0, 0)
    assert len(stored_headers(raw, topic)) == 6


def batch_with_header_max(records: list[tuple[int, bytes]], base_timestamp: int, header_max: int) -> bytes:
    return build_batch([Record(i, ts - base_timestamp, b"k", v) for i, (ts, v) in enumerate(records)],
                       base_timestamp=base_timestamp, max_timestamp=header_max)


def test_max_timestamp_recomputed_from_records(fast_broker: BrokerProcess, raw: RawClient) -> None:
    topic = unique("maxts")
    create_topic(raw, topic)
    now = int(time.time() * 1000)
    cases = [
        # (records (timestamp, value), base timestamp, header max) -> the max Kafka stores
        ([(-1, b"a"), (-1, b"b")], -1, 0),  # librdkafka with timestamp -1
        ([(now, b"c")], now, 0),  # one record, header max not its timestamp
        ([(now, b"d"), (now + 7, b"e")], now, now - 5),  # header max below the base
        ([(now, b"f"), (now + 3, b"g")], now, -1),  # sarama 1.22
    ]
    expected = [-1, now, now + 7, now + 3]
    for records, base, header_max in cases:
        assert produce(raw, topic, 0, batch_with_header_max(records, base, header_max))["error_code"] == 0
    stored = stored_headers(raw, topic)
    assert [h.max_timestamp for h in stored] == expected
    # the rewritten batches still pass their CRC and keep their records
    data = fetch(raw, topic, 0, 0)["records"]
    pos = 0
    for h in stored:
        decode_batch(data, pos, verify_crc=True)
        pos += h.size
    # ListOffsets MAX_TIMESTAMP (-3) finds the record the recomputed max belongs to
    wait_until(lambda: list_offset(raw, topic, 0, -3)[1] == 4, 10, what="offset of the max timestamp")
