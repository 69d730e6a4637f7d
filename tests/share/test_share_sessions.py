"""Share sessions (KIP-932) over raw frames: a member back within the leave grace keeps its new session; a
session ends with the connection that opened it (its records come back at once); the number of sessions is
capped (SHARE_SESSION_LIMIT_REACHED); a ShareFetch does not make a share group of a group id."""
from __future__ import annotations

import time
import uuid

from tests.conftest import BrokerProcess
from tests.rawclient import RawClient
from tests.share.conftest import create_topics, produce, share_broker, unique  # noqa: F401
from tests.share.test_share_raw import _acquired, _fetch, _hb, _topic_id

E_GROUP_NOT_FOUND, E_SESSION_LIMIT = 69, 133
ACCEPT = 1


def test_rejoining_within_the_leave_grace_keeps_the_new_session(share_broker) -> None:
    from kbroker.coordinator.share.coordinator import LEAVE_GRACE_MS

    bootstrap = share_broker.bootstrap
    topic, group, member = unique("shrejoin"), unique("g"), uuid.uuid4().hex
    create_topics(bootstrap, (topic, 1))
    with RawClient(bootstrap) as c:
        tid = _topic_id(c, topic)
        assert _hb(c, group, member, 0, [topic])["error_code"] == 0
        assert _fetch(c, group, member, 0, tid)["error_code"] == 0  # an (empty) session, so leaving is graceful
        assert _hb(c, group, member, -1, None)["member_epoch"] == -1
        assert _hb(c, group, member, 0, [topic])["error_code"] == 0  # back at once
        produce(bootstrap, topic, 3)
        got = _fetch(c, group, member, 0, tid)
        assert got["error_code"] == 0 and _acquired(got) == [(0, 2, 1)]
        time.sleep(LEAVE_GRACE_MS / 1000 + 1.5)  # past the grace of the first leave
        _hb(c, group, member, 1, None)
        acked = _fetch(c, group, member, 1, tid, acks=[{"first_offset": 0, "last_offset": 2,
                                                        "acknowledge_types": [ACCEPT]}], max_records=0)
        assert acked["error_code"] == 0, acked
        assert [p["acknowledge_error_code"] for t in acked["responses"] for p in t["partitions"]] == [0]


def test_a_closed_connection_ends_its_share_session_and_frees_its_records(share_broker) -> None:
    bootstrap = share_broker.bootstrap
    topic, group = unique("shclose"), unique("g")
    create_topics(bootstrap, (topic, 1))
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    with RawClient(bootstrap) as c:
        tid = _topic_id(c, topic)
        _hb(c, group, first, 0, [topic])
        _hb(c, group, second, 0, [topic])
    with RawClient(bootstrap) as c1:
        _fetch(c1, group, first, 0, tid)
        produce(bootstrap, topic, 4)
        assert _acquired(_fetch(c1, group, first, 1, tid)) == [(0, 3, 1)]
    # c1 is closed: the records of its session are released at once, not after the 30 s acquisition lock
    with RawClient(bootstrap) as c2:
        deadline = time.monotonic() + 10
        got: list = []
        epoch = 0
        while not got and time.monotonic() < deadline:
            resp = _fetch(c2, group, second, epoch, tid)
            assert resp["error_code"] == 0
            got, epoch = _acquired(resp), epoch + 1
            time.sleep(0.1)
        assert got == [(0, 3, 2)]
        # and the first member's session is gone: its next epoch is unknown
        assert _fetch(c2, group, first, 2, tid)["error_code"] == 122  # SHARE_SESSION_NOT_FOUND


def test_share_sessions_are_capped(tmp_path) -> None:
    b = BrokerProcess(tmp_path / "data", "--set", "group.share.max.share.sessions=1").start()
    try:
        topic, group = unique("shcap"), unique("g")
        create_topics(b.bootstrap, (topic, 1))
        one, two = uuid.uuid4().hex, uuid.uuid4().hex
        with RawClient(b.bootstrap) as c:
            tid = _topic_id(c, topic)
            _hb(c, group, one, 0, [topic])
            _hb(c, group, two, 0, [topic])
            assert _fetch(c, group, one, 0, tid)["error_code"] == 0
            refused = _fetch(c, group, two, 0, tid)
            assert refused["error_code"] == E_SESSION_LIMIT and refused["responses"] == []
            assert _fetch(c, group, one, -1, tid, max_records=0)["error_code"] == 0  # closing frees the slot
            assert _fetch(c, group, two, 0, tid)["error_code"] == 0
    finally:
        b.stop()


def test_share_fetch_does_not_create_a_share_group(share_broker) -> None:
    bootstrap = share_broker.bootstrap
    topic, group = unique("shnocreate"), unique("g")
    create_topics(bootstrap, (topic, 1))
    produce(bootstrap, topic, 2)
    with RawClient(bootstrap) as c:
        tid = _topic_id(c, topic)
        resp = _fetch(c, group, uuid.uuid4().hex, 0, tid)
        errors = [p["error_code"] for t in resp["responses"] for p in t["partitions"]]
        assert errors == [E_GROUP_NOT_FOUND] and not _acquired(resp)
        listed = c.request(16, 5, {"states_filter": [], "types_filter": []})
        assert group not in {g["group_id"] for g in listed["groups"]}
        described = c.request(77, 1, {"group_ids": [group], "include_authorized_operations": False})
        assert described["groups"][0]["error_code"] == E_GROUP_NOT_FOUND
        consumer_group = unique("cg")
        assert c.request(68, 1, {"group_id": consumer_group, "member_id": uuid.uuid4().hex, "member_epoch": 0,
                                 "instance_id": None, "rack_id": None, "rebalance_timeout_ms": 5000,
                                 "subscribed_topic_names": [topic], "subscribed_topic_regex": None,
                                 "server_assignor": None, "topic_partitions": []})["error_code"] == 0
        resp = _fetch(c, consumer_group, uuid.uuid4().hex, 0, tid)
        assert [p["error_code"] for t in resp["responses"] for p in t["partitions"]] == [E_GROUP_NOT_FOUND]
        assert c.request(16, 5, {"states_filter": [], "types_filter": ["share"]})["groups"] == [] or \
            consumer_group not in {g["group_id"] for g in c.request(16, 5, {"states_filter": [],
                                                                             "types_filter": ["share"]})["groups"]}
