"""A disk that fills up: every produce to the partition is answered KAFKA_STORAGE_ERROR (retriable: clients retry),
the connection stays open, the broker logs the failure once (not a traceback per write), and writes carry on
when space returns, with offsets contiguous and nothing acknowledged lost or written twice.

The full disk is the broker process's file-size limit (RLIMIT_FSIZE, lowered on the running broker with
prlimit and raised again): past it write(2) fails with EFBIG exactly where a full disk fails with ENOSPC (CPython
ignores SIGXFSZ), which reproduces it without root or a filesystem of its own.
"""
from __future__ import annotations

import resource
import time
from pathlib import Path

from confluent_kafka import Producer

from tests.conftest import BrokerProcess
from tests.helpers import create_topics, wait_until
from tests.rawclient import RawClient
from wire.records import Record, build_batch, iter_batches, iter_records

STORAGE_ERROR = 56
LOGGED = "cannot write to the log"


def produce(raw: RawClient, topic: str, value: bytes) -> dict:
    body = {"transactional_id": None, "acks": -1, "timeout_ms": 5000,
            "topic_data": [{"name": topic, "partition_data": [{"index": 0, "records": build_batch(
                [Record(0, 0, b"k", value)])}]}]}
    return raw.request(0, 9, body)["responses"][0]["partition_responses"][0]


def fill_limit(broker: BrokerProcess, size: int | None) -> None:
    assert broker.proc is not None
    limit = resource.RLIM_INFINITY if size is None else size
    resource.prlimit(broker.proc.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))


def all_values(raw: RawClient, topic: str) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    offset = 0
    while True:
        body = {"replica_id": -1, "max_wait_ms": 0, "min_bytes": 0, "max_bytes": 1 << 24, "isolation_level": 0,
                "session_id": 0, "session_epoch": -1, "rack_id": "", "forgotten_topics_data": [],
                "topics": [{"topic": topic, "topic_id": bytes(16), "partitions": [{
                    "partition": 0, "current_leader_epoch": -1, "fetch_offset": offset, "last_fetched_epoch": -1,
                    "log_start_offset": -1, "partition_max_bytes": 1 << 24}]}]}
        data = raw.request(1, 11, body)["responses"][0]["partitions"][0]["records"]
        if not data:
            return out
        for pos, header in iter_batches(data):
            for record in iter_records(data, pos):
                out.append((header.base_offset + record.offset_delta, record.value or b""))
            offset = header.last_offset + 1


def test_disk_full_answers_storage_error_and_recovers(tmp_path: Path) -> None:
    broker = BrokerProcess(tmp_path / "data").start()
    try:
        create_topics(broker.bootstrap, ("full", 1))
        raw = RawClient(broker.bootstrap)
        for i in range(3):
            assert produce(raw, "full", b"%d" % i + b"x" * 10_000)["error_code"] == 0
        fill_limit(broker, 40_000)  # the segment holds ~30 kB: the next 10 kB write crosses the limit
        for i in range(20):
            p = produce(raw, "full", b"lost" + b"x" * 10_000)
            assert p["error_code"] == STORAGE_ERROR, p
            assert p["base_offset"] == -1 and p["error_message"]
        fill_limit(broker, None)  # space returns
        p = produce(raw, "full", b"3" + b"x" * 10_000)
        assert p["error_code"] == 0 and p["base_offset"] == 3, p  # same connection, next offset

        # librdkafka, idempotent, while the disk is full: retries until space returns, then all delivered once
        fill_limit(broker, 60_000)
        producer = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True, "linger.ms": 0,
                             "message.timeout.ms": 60_000, "retry.backoff.ms": 100})
        errors: list = []
        for i in range(20):
            producer.produce("full", key=b"k", value=b"c%d" % i + b"y" * 3_000, partition=0,
                             on_delivery=lambda err, msg: errors.append(err) if err else None)
            producer.poll(0)
        wait_until(lambda: sum(LOGGED in line for line in broker.output) >= 2, 30, what="the second full disk")
        producer.poll(0.5)
        fill_limit(broker, None)
        assert producer.flush(60) == 0
        assert errors == []

        got = all_values(raw, "full")
        assert [offset for offset, _ in got] == list(range(len(got)))  # contiguous from 0
        values = [value[:4].rstrip(b"xy") for _, value in got]
        assert values[:4] == [b"0", b"1", b"2", b"3"]
        assert sorted(values[4:], key=lambda v: int(v[1:])) == [b"c%d" % i for i in range(20)]
        assert not any(v.startswith(b"lost") for v in values)
        output = "".join(broker.output)
        assert output.count(LOGGED) == 2, output  # once per episode, however many writes failed
        assert "Traceback" not in output
        assert output.count("writes succeed again") == 2
        assert broker.alive()
        raw.close()
    finally:
        fill_limit(broker, None) if broker.alive() else None
        broker.stop()
