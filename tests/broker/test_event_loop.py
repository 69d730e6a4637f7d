"""Work the event loop must not do: re-reading data for a waiting Fetch, fsync in Produce, deleting files in
DeleteTopics. Each test drives a real in-process kbroker over real sockets and looks at the broker's own
counters (through KafkaBroker.runner.call, on the broker's loop)."""
from __future__ import annotations

import threading
from typing import Any

import pytest

from kbroker.testing import KafkaBroker
from kbroker.testing.client import FETCH_V, WireClient, entries_of


@pytest.fixture
def memory_broker() -> Any:
    with KafkaBroker.start() as kafka:
        yield kafka


def _long_poll(bootstrap: str, topic: str, offset: int, *, min_bytes: int, max_wait_ms: int) -> dict:
    with WireClient(bootstrap) as client:
        body = {"replica_id": -1, "max_wait_ms": max_wait_ms, "min_bytes": min_bytes, "max_bytes": 64 << 20,
                "isolation_level": 0, "session_id": 0, "session_epoch": -1,
                "topics": [{"topic": topic, "partitions": [{"partition": 0, "current_leader_epoch": -1,
                                                            "fetch_offset": offset, "log_start_offset": -1,
                                                            "partition_max_bytes": 64 << 20}]}],
                "forgotten_topics_data": [], "rack_id": ""}
        return client.request(1, FETCH_V, body)["responses"][0]["partitions"][0]


def test_waiting_fetch_reads_each_byte_once(memory_broker: KafkaBroker) -> None:
    """A Fetch with min_bytes far above what arrives, while 200 batches are appended, reads the log once when
    it completes, not once per append (before: ~100x the data)."""
    kafka = memory_broker
    topic = kafka.create_topic()
    plog = kafka.runner.call(lambda: kafka.runner.broker.partition(topic, 0).log)
    result: dict = {}
    poller = threading.Thread(target=lambda: result.update(
        _long_poll(kafka.bootstrap, topic, 0, min_bytes=64 << 20, max_wait_ms=4000)))
    poller.start()
    with WireClient(kafka.bootstrap) as producer:
        for _ in range(200):
            producer.produce(topic, 0, entries_of([b"x" * 5000]))
    poller.join(timeout=30)
    assert not poller.is_alive()
    assert result["error_code"] == 0
    returned = len(result["records"])
    total = kafka.runner.call(lambda: plog.size_bytes)
    assert returned == total > 200 * 5000
    read = kafka.runner.call(lambda: plog.bytes_read)
    assert read <= total, f"the log served {read} bytes for a fetch that returned {total}"


def test_waiting_fetch_completes_once_min_bytes_arrive(memory_broker: KafkaBroker) -> None:
    """Counting positions instead of reading still completes the fetch as soon as enough bytes are there."""
    kafka = memory_broker
    topic = kafka.create_topic()
    result: dict = {}
    poller = threading.Thread(target=lambda: result.update(
        _long_poll(kafka.bootstrap, topic, 0, min_bytes=30_000, max_wait_ms=60_000)))
    poller.start()
    with WireClient(kafka.bootstrap) as producer:
        for _ in range(10):
            producer.produce(topic, 0, entries_of([b"y" * 5000]))
    poller.join(timeout=30)  # far below max_wait_ms: it completed on min_bytes
    assert not poller.is_alive()
    assert result["error_code"] == 0
    assert len(result["records"]) >= 30_000
