"""Acknowledgement errors over raw frames: a failed share-state write takes the acknowledgement back (the retry
succeeds); an unknown topic id is UNKNOWN_TOPIC_ID; leaving an unknown group or as an unknown member is an
error; ShareGroupDescribe honours include_authorized_operations; with share groups off every share API refuses."""
from __future__ import annotations

import resource
import uuid

from tests.conftest import BrokerProcess
from tests.rawclient import RawClient
from tests.share.conftest import create_topics, produce, set_group_configs, share_broker, unique  # noqa: F401
from tests.share.test_share_raw import _acquired, _fetch, _hb, _topic_id

E_STORAGE, E_UNKNOWN_MEMBER, E_GROUP_NOT_FOUND, E_UNKNOWN_TOPIC_ID, E_UNSUPPORTED = 56, 25, 69, 100, 35
ACCEPT = 1


def _ack_codes(resp: dict) -> list[int]:
    return [p["acknowledge_error_code"] for t in resp["responses"] for p in t["partitions"]]


def test_a_failed_state_write_takes_the_acknowledgement_back(tmp_path) -> None:
    b = BrokerProcess(tmp_path / "data").start()
    try:
        topic, group, member = unique("shfail"), unique("g"), uuid.uuid4().hex
        create_topics(b.bootstrap, (topic, 1))
        set_group_configs(b.bootstrap, group, {"share.auto.offset.reset": "earliest"})
        produce(b.bootstrap, topic, 3)
        with RawClient(b.bootstrap) as c:
            tid = _topic_id(c, topic)
            _hb(c, group, member, 0, [topic])
            assert _acquired(_fetch(c, group, member, 0, tid)) == [(0, 2, 1)]
            acks = [{"first_offset": 0, "last_offset": 2, "acknowledge_types": [ACCEPT]}]
            assert b.proc is not None
            resource.prlimit(b.proc.pid, resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))  # writes fail
            try:
                failed = _fetch(c, group, member, 1, tid, acks=acks, max_records=0)
            finally:
                resource.prlimit(b.proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            assert _ack_codes(failed) == [E_STORAGE]
            # the records are still this member's: the retried acknowledgement is applied
            assert _ack_codes(_fetch(c, group, member, 2, tid, acks=acks, max_records=0)) == [0]
    finally:
        b.stop()


def test_acknowledging_an_unknown_topic_id(share_broker) -> None:
    bootstrap = share_broker.bootstrap
    topic, group, member = unique("shtid"), unique("g"), uuid.uuid4().hex
    create_topics(bootstrap, (topic, 1))
    with RawClient(bootstrap) as c:
        tid = _topic_id(c, topic)
        _hb(c, group, member, 0, [topic])
        _fetch(c, group, member, 0, tid)
        ghost = uuid.uuid4().bytes
        resp = c.request(79, 1, {"group_id": group, "member_id": member, "share_session_epoch": 1, "topics": [
            {"topic_id": ghost, "partitions": [{"partition_index": 0, "acknowledgement_batches": [
                {"first_offset": 0, "last_offset": 0, "acknowledge_types": [ACCEPT]}]}]}]})
        assert [p["error_code"] for t in resp["responses"] for p in t["partitions"]] == [E_UNKNOWN_TOPIC_ID]


def test_leaving_an_unknown_group_or_as_an_unknown_member(share_broker) -> None:
    bootstrap = share_broker.bootstrap
    topic, group = unique("shleave"), unique("g")
    create_topics(bootstrap, (topic, 1))
    with RawClient(bootstrap) as c:
        assert _hb(c, "no-such-" + group, uuid.uuid4().hex, -1, None)["error_code"] == E_GROUP_NOT_FOUND
        assert _hb(c, group, uuid.uuid4().hex, 0, [topic])["error_code"] == 0
        assert _hb(c, group, uuid.uuid4().hex, -1, None)["error_code"] == E_UNKNOWN_MEMBER


def test_share_group_describe_authorized_operations(share_broker) -> None:
    bootstrap = share_broker.bootstrap
    topic, group = unique("shops"), unique("g")
    create_topics(bootstrap, (topic, 1))
    with RawClient(bootstrap) as c:
        _hb(c, group, uuid.uuid4().hex, 0, [topic])
        asked = c.request(77, 1, {"group_ids": [group], "include_authorized_operations": True})["groups"][0]
        not_asked = c.request(77, 1, {"group_ids": [group], "include_authorized_operations": False})["groups"][0]
        described = c.request(15, 5, {"groups": [unique("classic")], "include_authorized_operations": True})
    assert not_asked["authorized_operations"] == -2147483648
    assert asked["authorized_operations"] not in (-2147483648, 0)
    assert asked["authorized_operations"] & (1 << 3)  # READ, as DescribeGroups reports for groups
    assert described["groups"][0]["error_code"] in (0, E_GROUP_NOT_FOUND)


def test_every_share_api_refuses_when_share_groups_are_off(tmp_path) -> None:
    b = BrokerProcess(tmp_path / "data", "--set", "group.share.enable=false").start()
    try:
        topic = unique("shoff")
        create_topics(b.bootstrap, (topic, 1))
        with RawClient(b.bootstrap) as c:
            described = c.request(77, 1, {"group_ids": ["g"], "include_authorized_operations": False})
            assert described["groups"][0]["error_code"] == E_UNSUPPORTED
            offsets = c.request(90, 0, {"groups": [{"group_id": "g", "topics": None}]})
            assert offsets["groups"][0]["error_code"] == E_UNSUPPORTED
            altered = c.request(91, 0, {"group_id": "g", "topics": [{"topic_name": topic, "partitions": [
                {"partition_index": 0, "start_offset": 0}]}]})
            assert altered["error_code"] == E_UNSUPPORTED and altered["responses"] == []
            assert c.request(92, 0, {"group_id": "g", "topics": [{"topic_name": topic}]})["error_code"] == E_UNSUPPORTED
            listed = c.request(16, 5, {"states_filter": [], "types_filter": ["share"]})
            assert listed["groups"] == []
    finally:
        b.stop()
