"""AlterShareGroupOffsets (91) and DeleteShareGroupOffsets (92) answers as Kafka 4.1+ lays them out: a top-level
ErrorCode/ErrorMessage in both, and per-topic results (no partitions) in DeleteShareGroupOffsets. Read by hand
from the frame (tests/share/kafka_layout.py), not through kbroker's schema."""
from __future__ import annotations

import uuid

from tests.rawclient import RawClient
from tests.share.conftest import create_topics, produce, share_broker, unique  # noqa: F401
from tests.share.kafka_layout import Reader, raw_request

E_UNKNOWN_TOPIC, E_INVALID_GROUP, E_NON_EMPTY, E_GROUP_NOT_FOUND = 3, 24, 68, 69


def _alter(c: RawClient, group: str, topic: str, partitions: list[tuple[int, int]]) -> tuple[int, str | None, list]:
    r = raw_request(c, 91, 0, {"group_id": group, "topics": [{"topic_name": topic, "partitions": [
        {"partition_index": p, "start_offset": o} for p, o in partitions]}]})
    r.int32()  # ThrottleTimeMs
    code, message = r.int16(), r.compact_string()
    topics = []
    for _ in range(r.compact_array_len()):
        name, _tid = r.compact_string(), r.uuid()
        parts = []
        for _ in range(r.compact_array_len()):
            parts.append((r.int32(), r.int16(), r.compact_string()))
            r.tags()
        r.tags()
        topics.append((name, parts))
    r.tags()
    r.end()
    return code, message, topics


def _delete(c: RawClient, group: str, topics: list[str]) -> tuple[int, str | None, list]:
    r = raw_request(c, 92, 0, {"group_id": group, "topics": [{"topic_name": t} for t in topics]})
    r.int32()
    code, message = r.int16(), r.compact_string()
    out = []
    for _ in range(r.compact_array_len()):
        name, tid, tcode, tmessage = r.compact_string(), r.uuid(), r.int16(), r.compact_string()
        r.tags()
        out.append((name, tid, tcode, tmessage))
    r.tags()
    r.end()
    return code, message, out


def _hb(c: RawClient, group: str, member: str, epoch: int, topics: list[str] | None) -> dict:
    return c.request(76, 1, {"group_id": group, "member_id": member, "member_epoch": epoch, "rack_id": None,
                             "subscribed_topic_names": topics})


def test_alter_share_group_offsets_layout_and_group_errors(share_broker) -> None:
    bootstrap = share_broker.bootstrap
    topic, group = unique("shwire"), unique("g")
    create_topics(bootstrap, (topic, 1))
    produce(bootstrap, topic, 5)
    with RawClient(bootstrap) as c:
        code, message, topics = _alter(c, group, topic, [(0, 2), (4, 0)])
        assert (code, message) == (0, None)
        assert topics == [(topic, [(0, 0, None), (4, E_UNKNOWN_TOPIC, None)])]
        assert _alter(c, "", topic, [(0, 1)])[0] == E_INVALID_GROUP
        member = uuid.uuid4().hex
        assert _hb(c, group, member, 0, [topic])["error_code"] == 0
        code, message, topics = _alter(c, group, topic, [(0, 1)])
        assert code == E_NON_EMPTY and message and topics == []
        _hb(c, group, member, -1, None)
        consumer_group = unique("cg")
        assert c.request(68, 1, {"group_id": consumer_group, "member_id": uuid.uuid4().hex, "member_epoch": 0,
                                 "instance_id": None, "rack_id": None, "rebalance_timeout_ms": 5000,
                                 "subscribed_topic_names": [topic], "subscribed_topic_regex": None,
                                 "server_assignor": None, "topic_partitions": []})["error_code"] == 0
        code, _, topics = _alter(c, consumer_group, topic, [(0, 1)])
        assert code == E_GROUP_NOT_FOUND and topics == []


def test_delete_share_group_offsets_reports_per_topic(share_broker) -> None:
    bootstrap = share_broker.bootstrap
    topic, other, group = unique("shwire"), unique("shwire"), unique("g")
    create_topics(bootstrap, (topic, 2), (other, 1))
    produce(bootstrap, topic, 5)
    with RawClient(bootstrap) as c:
        assert _delete(c, group, [topic])[0] == E_GROUP_NOT_FOUND
        assert _alter(c, group, topic, [(0, 1), (1, 0)])[0] == 0
        member = uuid.uuid4().hex
        _hb(c, group, member, 0, [topic])
        code, message, topics = _delete(c, group, [topic])
        assert code == E_NON_EMPTY and message and topics == []
        _hb(c, group, member, -1, None)
        code, message, topics = _delete(c, group, [topic, other, "no-such-" + topic])
        assert (code, message) == (0, None)
        assert [(name, tcode) for name, _, tcode, _ in topics] == [
            (topic, 0), (other, E_UNKNOWN_TOPIC), ("no-such-" + topic, E_UNKNOWN_TOPIC)]
        assert topics[0][1] != bytes(16) and topics[0][3] is None
