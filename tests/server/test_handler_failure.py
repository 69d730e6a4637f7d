"""A handler that raises answers UNKNOWN_SERVER_ERROR for that request and keeps the connection (as Kafka does).

The failure is provoked by swapping one API's handler for one that raises, in an in-process broker; the requests
travel over a real socket and through the real dispatch."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from kbroker.handlers import REGISTRY, Entry
from kbroker.testing.brokers import InProcessBroker
from kbroker.testing.client import WireClient
from wire.errors import ErrorCode

LIST_OFFSETS, METADATA, API_VERSIONS, DESCRIBE_GROUPS, DESCRIBE_CONFIGS, DESCRIBE_TRANSACTIONS = 2, 3, 18, 15, 32, 65


async def _boom(ctx: Any, request: Any) -> dict:
    raise RuntimeError("handler bug \x1b[31m")


@pytest.fixture
def failing(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[InProcessBroker]:
    for key in getattr(request, "param", (LIST_OFFSETS, METADATA, DESCRIBE_GROUPS)):
        e = REGISTRY[key]
        broken = Entry(e.key, e.module, e.min_version, e.max_version)
        broken._handle = _boom  # already "loaded": dispatch calls it instead of the module's handle
        monkeypatch.setitem(REGISTRY, key, broken)
    b = InProcessBroker().start()
    yield b
    b.stop()


def test_partitioned_api_gets_the_error_in_each_partition_and_the_connection_stays(failing: InProcessBroker) -> None:
    with WireClient(failing.bootstrap, timeout=10) as c:
        for _ in range(3):  # the same connection, again and again
            resp = c.request(LIST_OFFSETS, 5, {"replica_id": -1, "isolation_level": 0, "topics": [
                {"name": "t", "partitions": [{"partition_index": 0, "current_leader_epoch": -1, "timestamp": -1},
                                             {"partition_index": 1, "current_leader_epoch": -1, "timestamp": -1}]}]})
            parts = resp["topics"][0]["partitions"]
            assert sorted(p["partition_index"] for p in parts) == [0, 1]
            assert {p["error_code"] for p in parts} == {ErrorCode.UNKNOWN_SERVER_ERROR}
        versions = c.request(API_VERSIONS, 3, {"client_software_name": "t", "client_software_version": "1"})
        assert versions["error_code"] == 0


def test_metadata_and_keyed_apis_answer_the_error(failing: InProcessBroker) -> None:
    with WireClient(failing.bootstrap, timeout=10) as c:
        md = c.request(METADATA, 9, {"topics": [{"name": "a"}], "allow_auto_topic_creation": False,
                                     "include_cluster_authorized_operations": False,
                                     "include_topic_authorized_operations": False})
        assert [(t["name"], t["error_code"]) for t in md["topics"]] == [("a", ErrorCode.UNKNOWN_SERVER_ERROR)]
        groups = c.request(DESCRIBE_GROUPS, 5, {"groups": ["g1", "g2"], "include_authorized_operations": False})
        assert [(g["group_id"], g["error_code"]) for g in groups["groups"]] == [
            ("g1", ErrorCode.UNKNOWN_SERVER_ERROR), ("g2", ErrorCode.UNKNOWN_SERVER_ERROR)]
        assert c.request(API_VERSIONS, 3, {"client_software_name": "t", "client_software_version": "1"})["error_code"] == 0


@pytest.mark.parametrize("failing", [(LIST_OFFSETS,)], indirect=True)
def test_a_real_client_sees_the_error_not_a_broken_connection(failing: InProcessBroker) -> None:
    confluent_kafka = pytest.importorskip("confluent_kafka")
    with WireClient(failing.bootstrap) as c:
        c.create_topic("t", 1)
    consumer = confluent_kafka.Consumer({"bootstrap.servers": failing.bootstrap, "group.id": "g"})
    try:
        with pytest.raises(confluent_kafka.KafkaException) as info:
            consumer.get_watermark_offsets(confluent_kafka.TopicPartition("t", 0), timeout=10)
        assert info.value.args[0].code() == confluent_kafka.KafkaError.UNKNOWN, info.value
    finally:
        consumer.close()


@pytest.mark.parametrize("failing", [(DESCRIBE_CONFIGS, DESCRIBE_TRANSACTIONS)], indirect=True)
def test_per_resource_apis_answer_the_error_in_each_entry(failing: InProcessBroker) -> None:
    with WireClient(failing.bootstrap, timeout=10) as c:
        resp = c.request(DESCRIBE_CONFIGS, 4, {"resources": [
            {"resource_type": 2, "resource_name": "t1", "configuration_keys": None},
            {"resource_type": 4, "resource_name": "1", "configuration_keys": None}],
            "include_synonyms": False, "include_documentation": False})
        assert [(r["resource_type"], r["resource_name"], r["error_code"]) for r in resp["results"]] == [
            (2, "t1", ErrorCode.UNKNOWN_SERVER_ERROR), (4, "1", ErrorCode.UNKNOWN_SERVER_ERROR)]
        txns = c.request(DESCRIBE_TRANSACTIONS, 0, {"transactional_ids": ["a"]})
        assert [(t["transactional_id"], t["error_code"]) for t in txns["transaction_states"]] == [
            ("a", ErrorCode.UNKNOWN_SERVER_ERROR)]
        assert c.request(API_VERSIONS, 3, {"client_software_name": "t", "client_software_version": "1"})["error_code"] == 0


def test_a_failing_partition_append_fails_that_partition_only(monkeypatch: pytest.MonkeyPatch,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    """An unexpected exception appending to one partition answers UNKNOWN_SERVER_ERROR for that partition; the
    others of the same Produce are appended (Kafka's appendToLocalLog), and the traceback is logged once."""
    from kbroker.log import Log
    from wire.records import batch_from_tuples

    real = Log.append

    def append(self: Log, *args: Any, **kwargs: Any) -> Any:
        if self.name.endswith("-0"):
            raise RuntimeError("append bug")
        return real(self, *args, **kwargs)

    b = InProcessBroker().start()
    try:
        with WireClient(b.bootstrap, timeout=10) as c:
            c.create_topic("p", 2)
            monkeypatch.setattr(Log, "append", append)
            caplog.set_level("DEBUG", logger="kbroker.handlers.produce")
            for attempt in range(3):
                body = {"transactional_id": None, "acks": -1, "timeout_ms": 10000, "topic_data": [
                    {"name": "p", "partition_data": [{"index": i, "records": batch_from_tuples([(None, b"v", None,
                                                                                                 None)])}
                                                     for i in (0, 1)]}]}
                parts = c.request(0, 9, body)["responses"][0]["partition_responses"]
                assert [(p["index"], p["error_code"]) for p in parts] == [(0, ErrorCode.UNKNOWN_SERVER_ERROR), (1, 0)]
                assert parts[1]["base_offset"] == attempt
    finally:
        b.stop()
    full = [r for r in caplog.records if r.levelname == "ERROR" and r.name == "kbroker.handlers.produce"]
    assert len(full) == 1 and full[0].exc_info is not None


def test_a_repeated_failure_is_logged_once_in_a_while(failing: InProcessBroker,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """The traceback once, then at most a line a minute for the same failure, however often a client repeats it."""
    caplog.set_level("ERROR", logger="kbroker.server.dispatch")
    with WireClient(failing.bootstrap, timeout=10) as c:
        for _ in range(6):
            c.request(LIST_OFFSETS, 5, {"replica_id": -1, "isolation_level": 0, "topics": [
                {"name": "t", "partitions": [{"partition_index": 0, "current_leader_epoch": -1, "timestamp": -1}]}]})
    lines = [r for r in caplog.records if r.name == "kbroker.server.dispatch" and "ListOffsets" in r.getMessage()]
    assert len(lines) <= 2, [r.getMessage() for r in lines]  # (none: an earlier test logged this failure)
