"""Share-partition state lives in __share_group_state: it survives a broker restart, as do group configs."""
from __future__ import annotations

import time

from confluent_kafka import AcknowledgeType

from tests.conftest import BrokerProcess
from tests.share.conftest import (
    SHORT_LOCKS,
    collect,
    create_topics,
    poll_messages,
    produce,
    set_group_configs,
    share_consumer,
    start_offsets,
    unique,
)


def test_share_state_survives_a_restart(tmp_path) -> None:
    data = tmp_path / "data"
    topic, group = unique("sharerestart"), unique("g")
    b = BrokerProcess(data, *SHORT_LOCKS).start()
    try:
        create_topics(b.bootstrap, (topic, 1))
        set_group_configs(b.bootstrap, group, {"share.auto.offset.reset": "earliest"})
        produce(b.bootstrap, topic, 100)
        c = share_consumer(b.bootstrap, group, topic, explicit=True)
        try:
            acked: set[int] = set()
            rejected: set[int] = set()
            deadline = time.monotonic() + 30
            while len(acked) + len(rejected) < 60 and time.monotonic() < deadline:
                for m in poll_messages(c, 0.5):
                    if m.offset() >= 60:
                        c.acknowledge(m, AcknowledgeType.RELEASE)
                    elif m.offset() % 10 == 5:
                        c.acknowledge(m, AcknowledgeType.REJECT)
                        rejected.add(m.offset())
                    else:
                        c.acknowledge(m, AcknowledgeType.ACCEPT)
                        acked.add(m.offset())
                c.commit_sync(15)
            assert acked | rejected == set(range(60))
        finally:
            c.close()
        assert start_offsets(b.bootstrap, group, topic, [0]) == {0: 60}
    finally:
        b.stop()
    b = BrokerProcess(data, *SHORT_LOCKS).start()
    try:
        assert start_offsets(b.bootstrap, group, topic, [0]) == {0: 60}
        c = share_consumer(b.bootstrap, group, topic)  # the group's earliest reset came back too
        try:
            got = collect(c, until=lambda ms: len({m.offset() for m in ms}) >= 40, timeout=30,
                          what="the records not finished before the restart")
            end = time.monotonic() + 1.5
            while time.monotonic() < end:
                got.extend(poll_messages(c, 0.5))
        finally:
            c.close()
        assert sorted(m.offset() for m in got) == list(range(60, 100))
        assert start_offsets(b.bootstrap, group, topic, [0]) == {0: 100}
    finally:
        b.stop()


def test_an_empty_share_group_outlives_a_restart(tmp_path) -> None:
    import uuid

    from tests.rawclient import RawClient

    data = tmp_path / "data"
    topic, group = unique("shempty"), unique("g")
    b = BrokerProcess(data).start()
    try:
        create_topics(b.bootstrap, (topic, 1))
        with RawClient(b.bootstrap) as c:
            member = uuid.uuid4().hex
            body = {"group_id": group, "member_id": member, "member_epoch": 0, "rack_id": None,
                    "subscribed_topic_names": [topic]}
            assert c.request(76, 1, body)["error_code"] == 0
            assert c.request(76, 1, {**body, "member_epoch": -1, "subscribed_topic_names": None})["error_code"] == 0
    finally:
        b.stop()
    b = BrokerProcess(data).start()
    try:
        with RawClient(b.bootstrap) as c:
            listed = c.request(16, 5, {"states_filter": [], "types_filter": ["share"]})["groups"]
            assert [(g["group_id"], g["group_state"]) for g in listed] == [(group, "Empty")]
            assert c.request(42, 2, {"groups_names": [group]})["results"][0]["error_code"] == 0
    finally:
        b.stop()
