"""Protocol-level behaviour checked with exact frames: versions, metadata, produce/fetch limits, long poll, order."""
from __future__ import annotations

import threading
import time

import pytest

from tests.rawclient import RawClient
from wire.records import batch_from_tuples as build_batch, iter_batches
from wire.schema import APIS

PRODUCE, FETCH, LIST_OFFSETS, METADATA, API_VERSIONS, CREATE_TOPICS = 0, 1, 2, 3, 18, 19


def _produce(c: RawClient, topic: str, partition: int, records: bytes, version: int = 9, acks: int = -1) -> dict:
    body = {"acks": acks, "timeout_ms": 5000,
            "topic_data": [{"name": topic, "partition_data": [{"index": partition, "records": records}]}]}
    return c.request(PRODUCE, version, body)["responses"][0]["partition_responses"][0]


def _fetch(c: RawClient, topic: str, partition: int, offset: int, *, version: int = 11, max_wait: int = 0,
           min_bytes: int = 1, max_bytes: int = 50_000_000, partition_max: int = 1_000_000) -> dict:
    body = {"replica_id": -1, "max_wait_ms": max_wait, "min_bytes": min_bytes, "max_bytes": max_bytes,
            "isolation_level": 0, "session_id": 0, "session_epoch": -1,
            "topics": [{"topic": topic, "partitions": [
                {"partition": partition, "fetch_offset": offset, "partition_max_bytes": partition_max,
                 "current_leader_epoch": -1, "log_start_offset": -1}]}],
            "forgotten_topics_data": [], "rack_id": ""}
    return c.request(FETCH, version, body)["responses"][0]["partitions"][0]


def _create(c: RawClient, topic: str, partitions: int = 1) -> None:
    resp = c.request(CREATE_TOPICS, 5, {"topics": [{"name": topic, "num_partitions": partitions,
                                                    "replication_factor": 1, "assignments": [], "configs": []}],
                                         "timeout_ms": 5000, "validate_only": False})
    assert resp["topics"][0]["error_code"] == 0, resp


@pytest.mark.parametrize("version", range(0, 5))
def test_api_versions_every_version(shared_broker, version: int) -> None:
    with RawClient(shared_broker.bootstrap) as c:
        resp = c.request(API_VERSIONS, version, {"client_software_name": "t", "client_software_version": "1"})
    assert resp["error_code"] == 0
    keys = {k["api_key"]: (k["min_version"], k["max_version"]) for k in resp["api_keys"]}
    for key in (0, 1, 2, 3, 18, 19, 20, 37):
        assert key in keys
        assert keys[key][1] == APIS[key].valid[1]
    assert keys[0][0] == 0  # librdkafka decides on compressed produce from Produce v0 being listed


@pytest.mark.parametrize("version", range(0, 14))
def test_metadata_every_version(shared_broker, version: int) -> None:
    topic = f"meta-v{version}"
    with RawClient(shared_broker.bootstrap) as c:
        body = {"topics": [{"name": topic, "topic_id": bytes(16)}], "allow_auto_topic_creation": True,
                "include_topic_authorized_operations": False}
        resp = c.request(METADATA, version, body)
    assert resp["brokers"][0]["port"] == shared_broker.port
    [t] = resp["topics"]
    assert (t["error_code"], t["name"], len(t["partitions"])) == (0, topic, 1)
    assert t["partitions"][0]["leader_id"] == resp["brokers"][0]["node_id"]
    if version >= 2:
        assert resp["cluster_id"]


def test_metadata_without_auto_create(shared_broker) -> None:
    with RawClient(shared_broker.bootstrap) as c:
        resp = c.request(METADATA, 9, {"topics": [{"name": "not-created"}], "allow_auto_topic_creation": False})
        assert resp["topics"][0]["error_code"] == 3
        resp = c.request(METADATA, 9, {"topics": [{"name": "bad/name"}], "allow_auto_topic_creation": True})
        assert resp["topics"][0]["error_code"] == 17  # INVALID_TOPIC_EXCEPTION


@pytest.mark.parametrize("version", [3, 5, 7, 9, 11])
def test_produce_then_fetch_versions(shared_broker, version: int) -> None:
    topic = f"pf-v{version}"
    with RawClient(shared_broker.bootstrap) as c:
        _create(c, topic)
        first = _produce(c, topic, 0, build_batch([(b"a", b"1", [], 1000), (b"b", b"2", [], 1001)]), version)
        second = _produce(c, topic, 0, build_batch([(b"c", b"3", [("h", b"x")], 1002)]), version)
        assert (first["error_code"], first["base_offset"], second["base_offset"]) == (0, 0, 2)
        part = _fetch(c, topic, 0, 0)
        assert part["high_watermark"] == 3
        bases = [h.base_offset for _, h in iter_batches(part["records"])]
        assert bases == [0, 2]
        part = _fetch(c, topic, 0, 2)
        assert [h.base_offset for _, h in iter_batches(part["records"])] == [2]


def test_fetch_out_of_range_and_limits(shared_broker) -> None:
    topic = "limits"
    with RawClient(shared_broker.bootstrap) as c:
        _create(c, topic)
        big = build_batch([(None, b"x" * 5000, [], 1)])
        for _ in range(5):
            _produce(c, topic, 0, big)
        assert _fetch(c, topic, 0, 99)["error_code"] == 1  # OFFSET_OUT_OF_RANGE
        # partition_max_bytes smaller than a batch: the first batch still comes whole
        part = _fetch(c, topic, 0, 0, partition_max=100)
        assert [h.base_offset for _, h in iter_batches(part["records"])] == [0]
        # two batches fit in 2.5 batch sizes, not three
        part = _fetch(c, topic, 0, 0, partition_max=int(len(big) * 2.5))
        assert len(list(iter_batches(part["records"]))) == 2
        part = _fetch(c, topic, 0, 0, max_bytes=int(len(big) * 1.5))
        assert len(list(iter_batches(part["records"]))) == 1


def test_fetch_long_poll_wakes_on_produce(shared_broker) -> None:
    topic = "longpoll"
    with RawClient(shared_broker.bootstrap) as c, RawClient(shared_broker.bootstrap) as producer:
        _create(c, topic)
        # nothing there: the fetch waits max_wait_ms and returns empty
        start = time.monotonic()
        part = _fetch(c, topic, 0, 0, max_wait=300)
        assert part["records"] in (b"", None) and time.monotonic() - start >= 0.25

        timer = threading.Timer(0.3, lambda: _produce(producer, topic, 0, build_batch([(None, b"wake", [], 1)])))
        timer.start()
        part = _fetch(c, topic, 0, 0, max_wait=20_000)
        timer.join()
        assert len(list(iter_batches(part["records"]))) == 1


def test_pipelined_requests_answered_in_order(shared_broker) -> None:
    topic = "pipeline"
    with RawClient(shared_broker.bootstrap) as c:
        _create(c, topic)
        fetch_body = {"replica_id": -1, "max_wait_ms": 500, "min_bytes": 1, "max_bytes": 1000, "isolation_level": 0,
                      "session_id": 0, "session_epoch": -1, "topics": [{"topic": topic, "partitions": [
                          {"partition": 0, "fetch_offset": 0, "partition_max_bytes": 1000}]}],
                      "forgotten_topics_data": []}
        sent = [c.send(FETCH, 11, fetch_body), c.send(API_VERSIONS, 0, {}), c.send(METADATA, 1, {"topics": None})]
        import struct
        got = [struct.unpack_from(">i", c.recv_frame())[0] for _ in sent]
        assert got == sent


def test_list_offsets(shared_broker) -> None:
    topic = "offsets"
    with RawClient(shared_broker.bootstrap) as c:
        _create(c, topic)
        _produce(c, topic, 0, build_batch([(None, b"a", [], 1000), (None, b"b", [], 5000)]))
        _produce(c, topic, 0, build_batch([(None, b"c", [], 3000)]))

        def lookup(ts: int, version: int = 7) -> tuple[int, int]:
            body = {"replica_id": -1, "isolation_level": 0, "topics": [{"name": topic, "partitions": [
                {"partition_index": 0, "timestamp": ts, "current_leader_epoch": -1}]}]}
            p = c.request(LIST_OFFSETS, version, body)["topics"][0]["partitions"][0]
            assert p["error_code"] == 0
            return p["offset"], p["timestamp"]

        assert lookup(-2)[0] == 0
        assert lookup(-1)[0] == 3
        assert lookup(-3) == (1, 5000)
        assert lookup(2000)[0] == 1
        assert lookup(4000)[0] == 1
        assert lookup(6000)[0] == -1
        body = {"replica_id": -1, "topics": [{"name": topic, "partitions": [
            {"partition_index": 0, "timestamp": -1, "max_num_offsets": 1}]}]}
        assert c.request(LIST_OFFSETS, 0, body)["topics"][0]["partitions"][0]["old_style_offsets"] == [3]
