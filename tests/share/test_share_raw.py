"""Share-group requests a client library does not exercise, as raw frames: session epochs, acknowledgement
errors, heartbeat errors, describe/list/delete, the share-group offset admin APIs, group.share.enable=false."""
from __future__ import annotations

import uuid

import pytest

from tests.conftest import BrokerProcess
from tests.rawclient import RawClient
from tests.share.conftest import create_topics, produce, set_group_configs, share_broker, unique, wait_until  # noqa: F401

E_UNKNOWN_MEMBER, E_FENCED, E_INVALID_REQUEST, E_RECORD_STATE = 25, 110, 42, 121
E_SESSION_NOT_FOUND, E_SESSION_EPOCH, E_GROUP_NOT_FOUND, E_NON_EMPTY = 122, 123, 69, 68


def _hb(c: RawClient, group: str, member: str, epoch: int, topics: list[str] | None) -> dict:
    return c.request(76, 1, {"group_id": group, "member_id": member, "member_epoch": epoch, "rack_id": None,
                             "subscribed_topic_names": topics})


def _fetch(c: RawClient, group: str, member: str, epoch: int, topic_id: bytes, *, acks: list | None = None,
           max_records: int = 100, version: int = 1) -> dict:
    return c.request(78, version, {
        "group_id": group, "member_id": member, "share_session_epoch": epoch, "max_wait_ms": 0, "min_bytes": 1,
        "max_bytes": 1 << 20, "max_records": max_records, "batch_size": 100, "share_acquire_mode": 0,
        "topics": [{"topic_id": topic_id, "partitions": [{"partition_index": 0, "acknowledgement_batches": acks or []}]}],
        "forgotten_topics_data": []})


def _topic_id(c: RawClient, topic: str) -> bytes:
    meta = c.request(3, 12, {"topics": [{"topic_id": bytes(16), "name": topic}], "allow_auto_topic_creation": False,
                             "include_topic_authorized_operations": False})
    return meta["topics"][0]["topic_id"]


def _acquired(resp: dict) -> list[tuple[int, int, int]]:
    return [(a["first_offset"], a["last_offset"], a["delivery_count"])
            for t in resp["responses"] for p in t["partitions"] for a in p["acquired_records"]]


def test_heartbeat_describe_list_and_errors(share_broker) -> None:
    bootstrap = share_broker.bootstrap
    topic, group, member = unique("shraw"), unique("g"), uuid.uuid4().hex
    create_topics(bootstrap, (topic, 3))
    with RawClient(bootstrap) as c:
        assert _hb(c, group, "", 0, [topic])["error_code"] == E_INVALID_REQUEST
        assert _hb(c, group, member, 0, None)["error_code"] == E_INVALID_REQUEST
        assert _hb(c, group, member, 3, [topic])["error_code"] == E_UNKNOWN_MEMBER
        joined = _hb(c, group, member, 0, [topic])
        assert joined["error_code"] == 0 and joined["member_epoch"] > 0
        assert joined["assignment"]["topic_partitions"][0]["partitions"] == [0, 1, 2]
        assert _hb(c, group, member, joined["member_epoch"] + 5, None)["error_code"] == E_FENCED
        again = _hb(c, group, member, joined["member_epoch"], None)
        assert again["error_code"] == 0 and again["assignment"] is None  # nothing changed: no assignment
        other = uuid.uuid4().hex
        second = _hb(c, group, other, 0, [topic])
        assert second["assignment"]["topic_partitions"][0]["partitions"] in ([0, 2], [1])
        first_again = _hb(c, group, member, joined["member_epoch"], None)
        assert first_again["member_epoch"] == second["member_epoch"] and first_again["assignment"] is not None
        described = c.request(77, 1, {"group_ids": [group, "nope-" + group], "include_authorized_operations": False})
        g, missing = described["groups"]
        assert g["error_code"] == 0 and g["group_state"] == "Stable" and g["assignor_name"] == "simple"
        assert sorted(m["member_id"] for m in g["members"]) == sorted([member, other])
        assert sorted(p for m in g["members"] for tp in m["assignment"]["topic_partitions"] for p in tp["partitions"]) \
            == [0, 1, 2]
        assert missing["error_code"] == E_GROUP_NOT_FOUND
        classic = c.request(15, 6, {"groups": [group], "include_authorized_operations": False})["groups"][0]
        assert classic["error_code"] == E_GROUP_NOT_FOUND and "not a classic group" in classic["error_message"]
        listed = c.request(16, 5, {"states_filter": [], "types_filter": ["share"]})
        assert {(x["group_id"], x["group_type"], x["group_state"]) for x in listed["groups"]} >= {(group, "share", "Stable")}
        assert group not in {x["group_id"] for x in c.request(16, 5, {"states_filter": [], "types_filter": ["consumer"]})["groups"]}
        assert c.request(42, 2, {"groups_names": [group]})["results"][0]["error_code"] == E_NON_EMPTY
        for m in (member, other):
            assert _hb(c, group, m, -1, None)["member_epoch"] == -1
        assert c.request(42, 2, {"groups_names": [group]})["results"][0]["error_code"] == 0
        assert c.request(77, 1, {"group_ids": [group], "include_authorized_operations": False})["groups"][0]["error_code"] \
            == E_GROUP_NOT_FOUND


def test_share_sessions_and_acknowledgements(share_broker) -> None:
    bootstrap = share_broker.bootstrap
    topic, group, member = unique("shsess"), unique("g"), uuid.uuid4().hex
    create_topics(bootstrap, (topic, 1))
    set_group_configs(bootstrap, group, {"share.auto.offset.reset": "earliest"})
    produce(bootstrap, topic, 10)
    with RawClient(bootstrap) as c:
        tid = _topic_id(c, topic)
        assert _fetch(c, group, member, 4, tid)["error_code"] == E_SESSION_NOT_FOUND
        assert _fetch(c, group, member, 0, tid, acks=[{"first_offset": 0, "last_offset": 0,
                                                         "acknowledge_types": [1]}])["error_code"] == E_INVALID_REQUEST
        opened = _fetch(c, group, member, 0, tid, max_records=4)
        assert opened["error_code"] == 0 and opened["acquisition_lock_timeout_ms"] == 30000
        assert _acquired(opened) == [(0, 3, 1)]
        assert opened["responses"][0]["partitions"][0]["records"]
        assert _fetch(c, group, member, 3, tid)["error_code"] == E_SESSION_EPOCH
        ack = c.request(79, 1, {"group_id": group, "member_id": member, "share_session_epoch": 0, "topics": []})
        assert ack["error_code"] == E_SESSION_EPOCH
        # offsets 0-1 accepted, 2 released, 3 rejected; 7 was never acquired
        resp = c.request(79, 1, {"group_id": group, "member_id": member, "share_session_epoch": 1, "topics": [
            {"topic_id": tid, "partitions": [{"partition_index": 0, "acknowledgement_batches": [
                {"first_offset": 0, "last_offset": 3, "acknowledge_types": [1, 1, 2, 3]}]}]}]})
        assert resp["error_code"] == 0 and resp["responses"][0]["partitions"][0]["error_code"] == 0
        bad = c.request(79, 1, {"group_id": group, "member_id": member, "share_session_epoch": 2, "topics": [
            {"topic_id": tid, "partitions": [{"partition_index": 0, "acknowledgement_batches": [
                {"first_offset": 7, "last_offset": 7, "acknowledge_types": [1]}]}]}]})
        assert bad["responses"][0]["partitions"][0]["error_code"] == E_RECORD_STATE
        again = _fetch(c, group, member, 3, tid, max_records=3)
        assert _acquired(again) == [(2, 2, 2), (4, 5, 1)]  # the released record first, delivered a second time
        renew = _fetch(c, group, member, 4, tid, version=2, max_records=0, acks=[
            {"first_offset": 2, "last_offset": 2, "acknowledge_types": [4]}])
        assert renew["responses"][0]["partitions"][0]["acknowledge_error_code"] == 0
        closed = _fetch(c, group, member, -1, tid, acks=[{"first_offset": 4, "last_offset": 5,
                                                           "acknowledge_types": [1]}])
        assert closed["error_code"] == 0 and not _acquired(closed)
        # closing released offset 2 (still held): another member gets it with its third delivery
        other = _fetch(c, group, uuid.uuid4().hex, 0, tid, max_records=1)
        assert _acquired(other) == [(2, 2, 3)]


def test_share_group_offset_admin(share_broker) -> None:
    bootstrap = share_broker.bootstrap
    topic, group = unique("shoff"), unique("g")
    create_topics(bootstrap, (topic, 2))
    produce(bootstrap, topic, 20)
    with RawClient(bootstrap) as c:
        absent = c.request(90, 0, {"groups": [{"group_id": group, "topics": None}]})
        assert absent["groups"][0]["error_code"] == E_GROUP_NOT_FOUND
        altered = c.request(91, 0, {"group_id": group, "topics": [{"topic_name": topic, "partitions": [
            {"partition_index": 0, "start_offset": 7}, {"partition_index": 5, "start_offset": 0}]}]})
        parts = altered["responses"][0]["partitions"]
        assert [(p["partition_index"], p["error_code"]) for p in parts] == [(0, 0), (5, 3)]
        described = c.request(90, 0, {"groups": [{"group_id": group, "topics": None}]})
        rows = [(t["topic_name"], p["partition_index"], p["start_offset"]) for t in described["groups"][0]["topics"]
                for p in t["partitions"]]
        assert rows == [(topic, 0, 7)]
        named = c.request(90, 0, {"groups": [{"group_id": group, "topics": [{"topic_name": topic, "partitions": [0, 1]}]}]})
        assert [p["start_offset"] for p in named["groups"][0]["topics"][0]["partitions"]] == [7, -1]
        member = uuid.uuid4().hex
        tid = _topic_id(c, topic)
        assert _acquired(_fetch(c, group, member, 0, tid, max_records=1)) == [(7, 7, 1)]
        _hb(c, group, member, 0, [topic])
        assert c.request(92, 0, {"group_id": group, "topics": [{"topic_name": topic}]})["error_code"] == E_NON_EMPTY
        assert c.request(91, 0, {"group_id": group, "topics": [{"topic_name": topic, "partitions": [
            {"partition_index": 0, "start_offset": 1}]}]})["responses"][0]["partitions"][0]["error_code"] == E_NON_EMPTY
        _hb(c, group, member, -1, None)
        deleted = c.request(92, 0, {"group_id": group, "topics": [{"topic_name": topic}]})
        assert deleted["error_code"] == 0 and [p["partition_index"] for p in deleted["responses"][0]["partitions"]] == [0]
        after = c.request(90, 0, {"groups": [{"group_id": group, "topics": [{"topic_name": topic, "partitions": [0]}]}]})
        assert after["groups"][0]["topics"][0]["partitions"][0]["start_offset"] == -1


def test_share_groups_can_be_turned_off(tmp_path) -> None:
    b = BrokerProcess(tmp_path / "data", "--set", "group.share.enable=false").start()
    try:
        with RawClient(b.bootstrap) as c:
            keys = {k["api_key"] for k in c.request(18, 3, {"client_software_name": "t",
                                                            "client_software_version": "1"})["api_keys"]}
            assert not keys & {76, 77, 78, 79, 90, 91, 92}
            assert _hb(c, "g", "m", 0, ["t"])["error_code"] == 35  # UNSUPPORTED_VERSION
    finally:
        b.stop()


@pytest.mark.parametrize("api,version", [(76, 1), (77, 1), (78, 1), (78, 2), (79, 1), (79, 2), (90, 0), (91, 0), (92, 0)])
def test_share_apis_are_advertised(share_broker, api: int, version: int) -> None:
    with RawClient(share_broker.bootstrap) as c:
        ranges = {k["api_key"]: (k["min_version"], k["max_version"])
                  for k in c.request(18, 3, {"client_software_name": "t", "client_software_version": "1"})["api_keys"]}
    lo, hi = ranges[api]
    assert lo <= version <= hi


def test_group_types_do_not_mix(share_broker) -> None:
    bootstrap = share_broker.bootstrap
    topic, group = unique("shmix"), unique("g")
    create_topics(bootstrap, (topic, 1))
    with RawClient(bootstrap) as c:
        assert _hb(c, group, uuid.uuid4().hex, 0, [topic])["error_code"] == 0
        consumer = c.request(68, 1, {"group_id": group, "member_id": uuid.uuid4().hex, "member_epoch": 0,
                                     "instance_id": None, "rack_id": None, "rebalance_timeout_ms": 5000,
                                     "subscribed_topic_names": [topic], "subscribed_topic_regex": None,
                                     "server_assignor": None, "topic_partitions": []})
        assert consumer["error_code"] == E_GROUP_NOT_FOUND
        classic = c.request(11, 5, {"group_id": group, "session_timeout_ms": 10000, "rebalance_timeout_ms": 10000,
                                    "member_id": "", "group_instance_id": None, "protocol_type": "consumer",
                                    "protocols": [{"name": "range", "metadata": b""}]})
        assert classic["error_code"] == 23  # INCONSISTENT_GROUP_PROTOCOL
        other = unique("g")
        assert c.request(68, 1, {"group_id": other, "member_id": uuid.uuid4().hex, "member_epoch": 0,
                                 "instance_id": None, "rack_id": None, "rebalance_timeout_ms": 5000,
                                 "subscribed_topic_names": [topic], "subscribed_topic_regex": None,
                                 "server_assignor": None, "topic_partitions": []})["error_code"] == 0
        assert _hb(c, other, uuid.uuid4().hex, 0, [topic])["error_code"] == E_GROUP_NOT_FOUND


def test_a_deleted_topic_leaves_the_share_group_offsets(share_broker) -> None:
    bootstrap = share_broker.bootstrap
    topic, group = unique("shdel"), unique("g")
    create_topics(bootstrap, (topic, 1))
    produce(bootstrap, topic, 3)
    with RawClient(bootstrap) as c:
        assert c.request(91, 0, {"group_id": group, "topics": [{"topic_name": topic, "partitions": [
            {"partition_index": 0, "start_offset": 1}]}]})["responses"][0]["partitions"][0]["error_code"] == 0
        assert c.request(20, 6, {"topics": [{"name": topic, "topic_id": bytes(16)}], "timeout_ms": 5000}
                         )["responses"][0]["error_code"] == 0
        described = c.request(90, 0, {"groups": [{"group_id": group, "topics": None}]})
        assert described["groups"][0]["topics"] == []


def test_auto_offset_reset_latest_earliest_and_by_duration(share_broker) -> None:
    from confluent_kafka import Producer

    bootstrap = share_broker.bootstrap
    topic = unique("shreset")
    create_topics(bootstrap, (topic, 1))
    now_ms = int(__import__("time").time() * 1000)
    p = Producer({"bootstrap.servers": bootstrap})
    for i in range(6):  # three records two hours old, three from now
        p.produce(topic, value=b"x", partition=0, timestamp=now_ms - 7_200_000 if i < 3 else now_ms)
    assert p.flush(15) == 0
    expected = {"latest": 6, "earliest": 0, "by_duration:PT1H": 3, "by_duration:P1DT0H": 0}
    with RawClient(bootstrap) as c:
        tid = _topic_id(c, topic)
        for reset, start in expected.items():
            group = unique("g")
            if reset != "latest":
                set_group_configs(bootstrap, group, {"share.auto.offset.reset": reset})
            _fetch(c, group, uuid.uuid4().hex, 0, tid, max_records=1)
            described = c.request(90, 0, {"groups": [{"group_id": group, "topics": [
                {"topic_name": topic, "partitions": [0]}]}]})
            assert described["groups"][0]["topics"][0]["partitions"][0]["start_offset"] == start, reset


def test_group_share_limits(tmp_path) -> None:
    b = BrokerProcess(tmp_path / "data", "--set", "group.share.max.size=1", "--set", "group.share.max.groups=1").start()
    try:
        topic = unique("shlim")
        create_topics(b.bootstrap, (topic, 1))
        with RawClient(b.bootstrap) as c:
            assert _hb(c, "g1", uuid.uuid4().hex, 0, [topic])["error_code"] == 0
            assert _hb(c, "g1", uuid.uuid4().hex, 0, [topic])["error_code"] == 81  # GROUP_MAX_SIZE_REACHED
            assert _hb(c, "g2", uuid.uuid4().hex, 0, [topic])["error_code"] == 81
    finally:
        b.stop()


def test_an_expired_member_gives_its_records_back(tmp_path) -> None:
    b = BrokerProcess(tmp_path / "data", "--set", "group.share.min.session.timeout.ms=1000").start()
    try:
        bootstrap = b.bootstrap
        topic, group = unique("shexp"), unique("g")
        create_topics(bootstrap, (topic, 1))
        set_group_configs(bootstrap, group, {"share.auto.offset.reset": "earliest", "share.session.timeout.ms": "1000"})
        produce(bootstrap, topic, 5)
        with RawClient(bootstrap) as c:
            tid = _topic_id(c, topic)
            silent = uuid.uuid4().hex
            assert _hb(c, group, silent, 0, [topic])["error_code"] == 0
            assert _acquired(_fetch(c, group, silent, 0, tid)) == [(0, 4, 1)]  # locked for 30 s
            other = uuid.uuid4().hex

            def members() -> list[str]:
                described = c.request(77, 1, {"group_ids": [group], "include_authorized_operations": False})
                return [m["member_id"] for m in described["groups"][0]["members"]]

            wait_until(lambda: silent not in members(), 15, step=0.2, what="the silent member's expiry")
            assert _acquired(_fetch(c, group, other, 0, tid)) == [(0, 4, 2)]  # long before the lock ran out
    finally:
        b.stop()


def test_bad_share_requests_get_errors_not_a_dead_broker(share_broker) -> None:
    bootstrap = share_broker.bootstrap
    topic, group, member = unique("shbad"), unique("g"), uuid.uuid4().hex
    create_topics(bootstrap, (topic, 1))
    set_group_configs(bootstrap, group, {"share.auto.offset.reset": "earliest"})
    produce(bootstrap, topic, 3)
    with RawClient(bootstrap) as c:
        tid = _topic_id(c, topic)
        unknown = _fetch(c, group, member, 0, uuid.uuid4().bytes)
        assert unknown["responses"][0]["partitions"][0]["error_code"] == 100  # UNKNOWN_TOPIC_ID
        assert _acquired(_fetch(c, group, member, 1, tid, max_records=3)) == [(0, 2, 1)]
        cases = [
            ([{"first_offset": 2, "last_offset": 1, "acknowledge_types": [1]}], E_INVALID_REQUEST),
            ([{"first_offset": 0, "last_offset": 2, "acknowledge_types": [9]}], E_INVALID_REQUEST),
            ([{"first_offset": 0, "last_offset": 2, "acknowledge_types": [1, 1]}], E_INVALID_REQUEST),
            ([{"first_offset": 0, "last_offset": 2**62, "acknowledge_types": [1]}], E_RECORD_STATE),
            ([{"first_offset": -5, "last_offset": 0, "acknowledge_types": [1]}], E_RECORD_STATE),
            ([{"first_offset": 0, "last_offset": 0, "acknowledge_types": [4]}], E_INVALID_REQUEST),  # RENEW: v2 only
        ]
        epoch = 2
        for acks, code in cases:
            resp = _fetch(c, group, member, epoch, tid, acks=acks, max_records=0)
            epoch += 1
            assert resp["responses"][0]["partitions"][0]["acknowledge_error_code"] == code, acks
        # nothing of that changed the records: they are still this member's to accept
        done = _fetch(c, group, member, epoch, tid, max_records=0, acks=[
            {"first_offset": 0, "last_offset": 2, "acknowledge_types": [1]}])
        assert done["responses"][0]["partitions"][0]["acknowledge_error_code"] == 0
        negative = c.request(78, 1, {
            "group_id": group, "member_id": member, "share_session_epoch": epoch + 1, "max_wait_ms": -1,
            "min_bytes": -1, "max_bytes": -1, "max_records": 5, "batch_size": -1, "share_acquire_mode": 0,
            "topics": [{"topic_id": tid, "partitions": [{"partition_index": -3, "acknowledgement_batches": []}]}],
            "forgotten_topics_data": []})
        codes = {(t["topic_id"], p["partition_index"]): p["error_code"]
                 for t in negative["responses"] for p in t["partitions"]}
        assert codes[(tid, -3)] == 3 and codes[(tid, 0)] == 0  # UNKNOWN_TOPIC_OR_PARTITION; partition 0 is fine


def test_a_leaving_member_can_still_acknowledge(share_broker) -> None:
    """librdkafka sends the leaving heartbeat and the closing ShareAcknowledge at once, on two connections."""
    bootstrap = share_broker.bootstrap
    topic, group, member = unique("shleave"), unique("g"), uuid.uuid4().hex
    create_topics(bootstrap, (topic, 1))
    set_group_configs(bootstrap, group, {"share.auto.offset.reset": "earliest"})
    produce(bootstrap, topic, 4)
    with RawClient(bootstrap) as c:
        tid = _topic_id(c, topic)
        assert _hb(c, group, member, 0, [topic])["error_code"] == 0
        assert _acquired(_fetch(c, group, member, 0, tid, max_records=4)) == [(0, 3, 1)]
        assert _hb(c, group, member, -1, None)["member_epoch"] == -1  # left first
        closing = c.request(79, 1, {"group_id": group, "member_id": member, "share_session_epoch": -1, "topics": [
            {"topic_id": tid, "partitions": [{"partition_index": 0, "acknowledgement_batches": [
                {"first_offset": 0, "last_offset": 2, "acknowledge_types": [1]}]}]}]})
        assert closing["error_code"] == 0 and closing["responses"][0]["partitions"][0]["error_code"] == 0
        # offset 3 was left unacknowledged: the closed session gave it back, to the next member at once
        assert _acquired(_fetch(c, group, uuid.uuid4().hex, 0, tid)) == [(3, 3, 2)]
