"""Quota throttling mutes the connection for the throttle time after the response (KIP-219), so a client that
ignores throttle_time_ms is slowed anyway (issue 15). The tests check what the broker did (throttled answers, a
muted connection not read for the throttle time), with only a generous upper bound on rates."""
from __future__ import annotations

import time
from typing import Iterator

import pytest

from kbroker.testing import SubprocessBroker
from kbroker.testing.client import WireClient
from tests.helpers import wait_until
from wire import records as rec

QUOTA = 400_000  # bytes per second
TOTAL = 2_400_000  # bytes moved per test: six seconds' worth at the quota, a fraction of a second unthrottled
BATCH = 50_000
# a one-second rate window, so that a burst is throttled within about a second rather than ten
CONFIG = {"quota.window.num": 2, "quota.window.size.seconds": 1}


@pytest.fixture(scope="module")
def quota_broker() -> Iterator[SubprocessBroker]:
    b = SubprocessBroker(None, config=CONFIG).start()
    with WireClient(b.bootstrap) as c:
        c.create_topic("fill", 1)
        for _ in range(TOTAL // BATCH + 2):  # data for the fetch tests, written by an unthrottled client id
            c.produce("fill", 0, [(None, b"f" * BATCH, None, None)])
    yield b
    b.stop()


def _set_quota(bootstrap: str, client_id: str, key: str, value: float | None) -> None:
    op = {"key": key, "value": value or 0.0, "remove": value is None}
    with WireClient(bootstrap) as c:
        resp = c.request(49, 1, {"validate_only": False, "entries": [
            {"entity": [{"entity_type": "client-id", "entity_name": client_id}], "ops": [op]}]})
    assert resp["entries"][0]["error_code"] == 0, resp


def _assert_rate(moved: int, seconds: float) -> None:
    """Only a generous upper bound: unthrottled this runs at tens of MB/s; a loaded machine only makes it slower."""
    rate = moved / seconds
    assert rate < 3 * QUOTA, f"{rate / 1000:.0f} kB/s against a quota of {QUOTA / 1000:.0f} kB/s"


def _assert_muted(throttles_ms: list[int], elapsed: float) -> None:
    """Each throttled answer muted its connection: the next request was not read for the throttle time, so the
    loop lasted at least as long as the throttles before its last answer (load only lengthens it)."""
    muted = sum(throttles_ms[:-1]) / 1000
    assert elapsed >= 0.95 * muted, f"{elapsed:.2f} s elapsed, but {muted:.2f} s of mutes were announced"


def test_produce_client_ignoring_throttle_is_slowed(quota_broker: SubprocessBroker) -> None:
    _set_quota(quota_broker.bootstrap, "ignorer-p", "producer_byte_rate", QUOTA)
    with WireClient(quota_broker.bootstrap, client_id="ignorer-p") as c:
        c.create_topic("p", 1)
        batch = rec.batch_from_tuples([(None, b"x" * BATCH, None, None)])
        body = {"transactional_id": None, "acks": 1, "timeout_ms": 10000,
                "topic_data": [{"name": "p", "partition_data": [{"index": 0, "records": batch}]}]}
        began, moved, throttles = time.monotonic(), 0, []
        while moved < TOTAL and time.monotonic() - began < 60:
            resp = c.request(0, 9, body)  # the next request at once: throttle_time_ms is ignored
            assert resp["responses"][0]["partition_responses"][0]["error_code"] == 0
            if resp["throttle_time_ms"] > 0:
                throttles.append(resp["throttle_time_ms"])
            moved += len(batch)
        elapsed = time.monotonic() - began
    assert len(throttles) >= 2, "the broker throttled too little to be seen"
    _assert_muted(throttles, elapsed)
    _assert_rate(moved, elapsed)


def test_fetch_client_ignoring_throttle_is_slowed(quota_broker: SubprocessBroker) -> None:
    _set_quota(quota_broker.bootstrap, "ignorer-f", "consumer_byte_rate", QUOTA)
    with WireClient(quota_broker.bootstrap, client_id="ignorer-f") as c:
        began, moved, offset, throttles = time.monotonic(), 0, 0, []
        while moved < TOTAL and time.monotonic() - began < 60:
            resp = c.request(1, 11, {"replica_id": -1, "max_wait_ms": 0, "min_bytes": 1, "max_bytes": 2 * BATCH,
                                     "isolation_level": 0, "session_id": 0, "session_epoch": -1, "rack_id": "",
                                     "topics": [{"topic": "fill", "partitions": [
                                         {"partition": 0, "current_leader_epoch": -1, "fetch_offset": offset,
                                          "log_start_offset": -1, "partition_max_bytes": 2 * BATCH}]}],
                                     "forgotten_topics_data": []})
            assert resp["error_code"] == 0
            if resp["throttle_time_ms"] > 0:
                throttles.append(resp["throttle_time_ms"])
            parts = [p for t in resp["responses"] for p in t["partitions"]]  # none while throttled
            assert all(p["error_code"] == 0 for p in parts)
            data = b"".join(p["records"] or b"" for p in parts)
            moved += len(data)
            for _, header in rec.iter_batches(data):
                offset = header.base_offset + header.last_offset_delta + 1
        elapsed = time.monotonic() - began
    _assert_rate(moved, elapsed)
    _assert_muted(throttles, elapsed)
    # over quota the broker answers with no records; without the mute a client that ignores throttle_time_ms
    # spins on those empty answers (thousands a second), with it each one silences the connection a while
    assert 0 < len(throttles) < 200, f"{len(throttles)} throttled fetches in {elapsed:.1f} s"


def test_real_producer_and_consumer_are_held_to_the_quota(quota_broker: SubprocessBroker) -> None:
    kafka = pytest.importorskip("kafka")
    _set_quota(quota_broker.bootstrap, "kp", "producer_byte_rate", QUOTA)
    _set_quota(quota_broker.bootstrap, "kc", "consumer_byte_rate", QUOTA)
    producer = kafka.KafkaProducer(bootstrap_servers=quota_broker.bootstrap, client_id="kp", linger_ms=5,
                                   batch_size=BATCH + 1000, max_request_size=4 * BATCH, acks=1)
    try:
        began = time.monotonic()
        for _ in range(TOTAL // 10_000):
            producer.send("real", b"r" * 10_000)
        producer.flush(timeout=60)
        _assert_rate(TOTAL, time.monotonic() - began)
    finally:
        producer.close(timeout=10)
    consumer = kafka.KafkaConsumer("fill", bootstrap_servers=quota_broker.bootstrap, client_id="kc",
                                   auto_offset_reset="earliest", enable_auto_commit=False, fetch_max_bytes=2 * BATCH,
                                   max_partition_fetch_bytes=2 * BATCH)
    try:
        began, moved = time.monotonic(), 0
        while moved < TOTAL and time.monotonic() - began < 60:
            for records in consumer.poll(timeout_ms=500).values():
                moved += sum(len(r.value) for r in records)
        _assert_rate(moved, time.monotonic() - began)
    finally:
        consumer.close()


def test_acks0_produce_counts_against_the_quota(quota_broker: SubprocessBroker) -> None:
    """An acks=0 producer gets no answer to carry throttle_time_ms, but its bytes are counted all the same (and its
    connection muted): the same client id's next answered request is throttled. Uncounted, it never was."""
    _set_quota(quota_broker.bootstrap, "silent-p", "producer_byte_rate", QUOTA)
    with WireClient(quota_broker.bootstrap, client_id="silent-p") as silent, \
            WireClient(quota_broker.bootstrap, client_id="silent-p") as probe:
        probe.create_topic("p0", 1)
        batch = rec.batch_from_tuples([(None, b"s" * BATCH, None, None)])
        body = {"transactional_id": None, "acks": 0, "timeout_ms": 10000,
                "topic_data": [{"name": "p0", "partition_data": [{"index": 0, "records": batch}]}]}
        for _ in range(TOTAL // BATCH):
            silent.send(0, 9, body)
        tiny = dict(body, acks=1, topic_data=[{"name": "p0", "partition_data": [
            {"index": 0, "records": rec.batch_from_tuples([(None, b"t", None, None)])}]}])
        wait_until(lambda: probe.request(0, 9, tiny)["throttle_time_ms"] > 0, timeout=20,
                   what="a throttled answer to the client id that produced with acks=0")
