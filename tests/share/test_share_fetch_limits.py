"""ShareFetch limits over raw frames: the in-flight window is bounded by share.partition.max.record.locks; the
partitions of a session take turns; a fetch that waits never answers more than max_records, nor a batch twice;
a GAP acknowledgement archives."""
from __future__ import annotations

import urllib.request
import uuid

import pytest

from kbroker.coordinator.share.partition_state import ACK_ACCEPT, ACK_GAP, ARCHIVED, LogBatch, SharePartitionState
from tests.conftest import BrokerProcess
from tests.rawclient import RawClient
from tests.share.conftest import create_topics, produce, set_group_configs, share_broker, unique  # noqa: F401
from tests.share.test_share_raw import _acquired, _hb, _topic_id
from wire.codec import decode_response


def _fetch_parts(c: RawClient, group: str, member: str, epoch: int, topic_id: bytes, partitions: list[int], *,
                 acks: dict[int, list] | None = None, max_records: int = 100, max_wait_ms: int = 0,
                 min_bytes: int = 1) -> dict:
    return c.request(78, 1, _body(group, member, epoch, topic_id, partitions, acks=acks, max_records=max_records,
                                  max_wait_ms=max_wait_ms, min_bytes=min_bytes))


def _body(group: str, member: str, epoch: int, topic_id: bytes, partitions: list[int], *,
          acks: dict[int, list] | None = None, max_records: int = 100, max_wait_ms: int = 0, min_bytes: int = 1) -> dict:
    return {"group_id": group, "member_id": member, "share_session_epoch": epoch, "max_wait_ms": max_wait_ms,
            "min_bytes": min_bytes, "max_bytes": 1 << 20, "max_records": max_records, "batch_size": 100,
            "share_acquire_mode": 0, "forgotten_topics_data": [],
            "topics": [{"topic_id": topic_id, "partitions": [
                {"partition_index": p, "acknowledgement_batches": (acks or {}).get(p, [])} for p in partitions]}]}


def _by_partition(resp: dict) -> dict[int, list[tuple[int, int, int]]]:
    return {p["partition_index"]: [(a["first_offset"], a["last_offset"], a["delivery_count"])
                                   for a in p["acquired_records"]]
            for t in resp["responses"] for p in t["partitions"] if p["acquired_records"]}


def test_window_cap_counts_the_whole_in_flight_window() -> None:
    s = SharePartitionState(0)
    assert s.acquire([LogBatch(0, 199, False)], "a", deadline_ms=10, max_records=500, max_locks=10) == list(range(10))
    assert s.acknowledge("a", [(1, 9, [ACK_ACCEPT])], now_ms=0, delivery_limit=5, lock_ms=10,
                         renew_allowed=False) == 0
    assert s.acquired_count() == 1 and s.in_flight() == 10
    # one record still locked keeps the window at 10: nothing fresh, however few records are locked
    assert s.acquire([LogBatch(0, 199, False)], "a", deadline_ms=10, max_records=500, max_locks=10) == []
    assert s.acknowledge("a", [(0, 0, [ACK_ACCEPT])], now_ms=0, delivery_limit=5, lock_ms=10,
                         renew_allowed=False) == 0
    assert s.acquire([LogBatch(0, 199, False)], "a", deadline_ms=10, max_records=500, max_locks=10) \
        == list(range(10, 20))


def test_gap_acknowledgement_archives_the_record() -> None:
    s = SharePartitionState(0)
    s.acquire([LogBatch(0, 2, False)], "a", deadline_ms=10, max_records=10, max_locks=10)
    assert s.acknowledge("a", [(1, 1, [ACK_GAP])], now_ms=0, delivery_limit=5, lock_ms=10, renew_allowed=False) == 0
    assert s.records[1].state == ARCHIVED


def test_in_flight_window_is_bounded_over_the_wire(share_broker) -> None:
    bootstrap = share_broker.bootstrap
    topic, group, member = unique("shwin"), unique("g"), uuid.uuid4().hex
    create_topics(bootstrap, (topic, 1))
    set_group_configs(bootstrap, group, {"share.auto.offset.reset": "earliest",
                                         "share.partition.max.record.locks": "100"})
    produce(bootstrap, topic, 150)
    with RawClient(bootstrap) as c:
        tid = _topic_id(c, topic)
        _hb(c, group, member, 0, [topic])
        first = _fetch_parts(c, group, member, 0, tid, [0], max_records=500)
        assert _by_partition(first) == {0: [(0, 99, 1)]}
        # accept 1-99, keep 0 locked: the window [0, 100) stays full
        second = _fetch_parts(c, group, member, 1, tid, [0], max_records=500,
                              acks={0: [{"first_offset": 1, "last_offset": 99, "acknowledge_types": [ACK_ACCEPT]}]})
        assert second["error_code"] == 0 and _by_partition(second) == {}
        third = _fetch_parts(c, group, member, 2, tid, [0], max_records=500,
                             acks={0: [{"first_offset": 0, "last_offset": 0, "acknowledge_types": [ACK_ACCEPT]}]})
        assert _by_partition(third) == {0: [(100, 149, 1)]}


def test_partitions_take_turns(share_broker) -> None:
    bootstrap = share_broker.bootstrap
    topic, group, member = unique("shrot"), unique("g"), uuid.uuid4().hex
    create_topics(bootstrap, (topic, 2))
    set_group_configs(bootstrap, group, {"share.auto.offset.reset": "earliest"})
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(40):
        p.produce(topic, value=b"x", partition=i % 2)
    assert p.flush(15) == 0
    with RawClient(bootstrap) as c:
        tid = _topic_id(c, topic)
        _hb(c, group, member, 0, [topic])
        served = []
        for epoch in range(4):
            got = _by_partition(_fetch_parts(c, group, member, epoch, tid, [0, 1], max_records=3))
            assert len(got) == 1, got
            served.append(next(iter(got)))
    assert set(served[:2]) == {0, 1} and set(served[2:]) == {0, 1}, served


def test_a_waiting_fetch_answers_at_most_max_records_and_each_batch_once(share_broker) -> None:
    bootstrap = share_broker.bootstrap
    topic, group, member = unique("shwait"), unique("g"), uuid.uuid4().hex
    create_topics(bootstrap, (topic, 1))
    set_group_configs(bootstrap, group, {"share.auto.offset.reset": "earliest"})
    produce(bootstrap, topic, 2)
    with RawClient(bootstrap) as c:
        tid = _topic_id(c, topic)
        _hb(c, group, member, 0, [topic])
        _fetch_parts(c, group, member, 0, tid, [0], max_records=0)  # open the session
        # asks for 3 records and far more bytes than there are: acquires 0-1 and waits for more
        corr = c.send(78, 1, _body(group, member, 1, tid, [0], max_records=3, max_wait_ms=3000, min_bytes=1 << 20))
        produce(bootstrap, topic, 5, start=2)
        got_corr, resp = decode_response(78, 1, c.recv_frame())
        assert got_corr == corr
    acquired = _acquired(resp)
    offsets = [o for first, last, _ in acquired for o in range(first, last + 1)]
    assert offsets == sorted(set(offsets)) and len(offsets) <= 3, acquired
    from wire import records as rec

    data = resp["responses"][0]["partitions"][0]["records"]
    bases = [h.base_offset for _, h in rec.iter_batches(memoryview(data))]
    assert bases == sorted(set(bases)), bases


@pytest.fixture(scope="module")
def metrics_broker(tmp_path_factory):  # type: ignore[no-untyped-def]
    b = BrokerProcess(tmp_path_factory.mktemp("sharegap") / "data", metrics=True).start()
    yield b
    b.stop()


def test_gap_acknowledgement_archives_over_the_wire(metrics_broker) -> None:
    bootstrap = metrics_broker.bootstrap
    topic, group, member = unique("shgap"), unique("g"), uuid.uuid4().hex
    create_topics(bootstrap, (topic, 1))
    set_group_configs(bootstrap, group, {"share.auto.offset.reset": "earliest"})
    produce(bootstrap, topic, 3)
    with RawClient(bootstrap) as c:
        tid = _topic_id(c, topic)
        _hb(c, group, member, 0, [topic])
        assert _by_partition(_fetch_parts(c, group, member, 0, tid, [0])) == {0: [(0, 2, 1)]}
        acked = _fetch_parts(c, group, member, 1, tid, [0], max_records=0, acks={0: [
            {"first_offset": 1, "last_offset": 1, "acknowledge_types": [ACK_GAP]}]})
        assert acked["responses"][0]["partitions"][0]["acknowledge_error_code"] == 0
    text = urllib.request.urlopen(metrics_broker.metrics_url, timeout=10).read().decode()
    labels = f'group="{group}",partition="0",state="archived",topic="{topic}"'
    assert f"kbroker_sharegroup_records{{{labels}}} 1.0" in text, [
        line for line in text.splitlines() if group in line]
