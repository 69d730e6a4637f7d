"""The classic group protocol and the offset APIs with exact frames: versions, error codes, parked requests."""
from __future__ import annotations

import struct
import time

import pytest

from tests.groups.conftest import Raw, create_topic, unique, wait_until

FIND, JOIN, HEARTBEAT, LEAVE, SYNC, DESCRIBE, LIST = 10, 11, 12, 13, 14, 15, 16
COMMIT, FETCH_OFFSETS, DELETE_GROUPS, OFFSET_DELETE = 8, 9, 42, 47

NONE, ILLEGAL_GENERATION, INCONSISTENT_GROUP_PROTOCOL, INVALID_GROUP_ID = 0, 22, 23, 24
UNKNOWN_MEMBER_ID, INVALID_SESSION_TIMEOUT, REBALANCE_IN_PROGRESS = 25, 26, 27
UNKNOWN_TOPIC_OR_PARTITION, OFFSET_METADATA_TOO_LARGE, INVALID_REQUEST = 3, 12, 42
NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND, MEMBER_ID_REQUIRED, FENCED_INSTANCE_ID = 68, 69, 79, 82
GROUP_SUBSCRIBED_TO_TOPIC = 86


def subscription(*topics: str) -> bytes:
    out = struct.pack(">hi", 0, len(topics))
    for t in topics:
        out += struct.pack(">h", len(t)) + t.encode()
    return out + struct.pack(">i", -1)


def join_body(group: str, member_id: str = "", *, instance: str | None = None, session: int = 6000,
              rebalance: int = 10000, protocols=(("range", b"m"),), protocol_type: str = "consumer") -> dict:
    return {"group_id": group, "session_timeout_ms": session, "rebalance_timeout_ms": rebalance,
            "member_id": member_id, "group_instance_id": instance, "protocol_type": protocol_type,
            "protocols": [{"name": n, "metadata": m} for n, m in protocols], "reason": None}


def join(c: Raw, group: str, version: int = 7, **kw) -> dict:
    """A dynamic member's complete join (MEMBER_ID_REQUIRED round trip included for v4+)."""
    resp = c.request(JOIN, version, join_body(group, **kw))
    if resp["error_code"] == MEMBER_ID_REQUIRED:
        kw["member_id"] = resp["member_id"]
        resp = c.request(JOIN, version, join_body(group, **kw))
    return resp


def sync(c: Raw, group: str, generation: int, member_id: str, assignments=(), version: int = 5, **kw) -> dict:
    body = {"group_id": group, "generation_id": generation, "member_id": member_id,
            "group_instance_id": kw.get("instance"), "protocol_type": kw.get("protocol_type"),
            "protocol_name": kw.get("protocol_name"),
            "assignments": [{"member_id": m, "assignment": a} for m, a in assignments]}
    return c.request(SYNC, version, body)


def heartbeat(c: Raw, group: str, generation: int, member_id: str, instance: str | None = None, version: int = 4) -> int:
    return c.request(HEARTBEAT, version, {"group_id": group, "generation_id": generation, "member_id": member_id,
                                          "group_instance_id": instance})["error_code"]


def commit(c: Raw, group: str, offsets: dict, *, generation: int = -1, member_id: str = "", version: int = 8,
           metadata: str | None = "meta", instance: str | None = None) -> dict:
    topics: dict[str, list] = {}
    for (t, p), o in offsets.items():
        topics.setdefault(t, []).append({"partition_index": p, "committed_offset": o, "committed_leader_epoch": -1,
                                          "committed_metadata": metadata, "commit_timestamp": -1})
    body = {"group_id": group, "generation_id_or_member_epoch": generation, "member_id": member_id,
            "group_instance_id": instance, "retention_time_ms": -1,
            "topics": [{"name": t, "partitions": ps} for t, ps in topics.items()]}
    resp = c.request(COMMIT, version, body)
    return {(t["name"], p["partition_index"]): p["error_code"] for t in resp["topics"] for p in t["partitions"]}


def fetch(c: Raw, group: str, topics: dict | None, version: int = 7) -> tuple[int, dict]:
    body = {"group_id": group, "require_stable": True,
            "topics": None if topics is None else [{"name": t, "partition_indexes": ps} for t, ps in topics.items()]}
    resp = c.request(FETCH_OFFSETS, version, body)
    out = {(t["name"], p["partition_index"]): (p["committed_offset"], p["metadata"], p["error_code"])
           for t in resp["topics"] for p in t["partitions"]}
    return resp.get("error_code", 0), out


# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", range(0, 7))
def test_find_coordinator_every_version(fast_broker, version: int) -> None:
    host, port = fast_broker.bootstrap.split(":")
    with Raw(fast_broker.bootstrap) as c:
        if version < 4:
            resp = c.request(FIND, version, {"key": unique("g"), "key_type": 0})
            assert resp["error_code"] == 0
            assert (resp["node_id"], resp["host"], resp["port"]) == (1, host, int(port))
        else:
            resp = c.request(FIND, version, {"key_type": 0, "coordinator_keys": ["a", "b", unique("g")]})
            assert [x["key"] for x in resp["coordinators"]] == ["a", "b", resp["coordinators"][2]["key"]]
            assert all((x["error_code"], x["node_id"], x["port"]) == (0, 1, int(port)) for x in resp["coordinators"])
            txn = c.request(FIND, version, {"key_type": 1, "coordinator_keys": ["tx"]})["coordinators"][0]
            assert (txn["error_code"], txn["node_id"]) == (0, 1)
            bad = c.request(FIND, version, {"key_type": 7, "coordinator_keys": ["x"]})["coordinators"][0]
            assert bad["error_code"] == INVALID_REQUEST


def test_member_id_required_round_trip_and_basic_errors(raw_factory) -> None:
    group = unique("g")
    c = raw_factory()
    first = c.request(JOIN, 7, join_body(group))
    assert first["error_code"] == MEMBER_ID_REQUIRED and first["member_id"].startswith("rawclient-")
    member = first["member_id"]
    resp = c.request(JOIN, 7, join_body(group, member))
    assert resp["error_code"] == 0
    assert (resp["generation_id"], resp["leader"], resp["member_id"]) == (1, member, member)
    assert (resp["protocol_type"], resp["protocol_name"]) == ("consumer", "range")
    assert [m["member_id"] for m in resp["members"]] == [member]
    s = sync(c, group, 1, member, [(member, b"assignment-1")], protocol_type="consumer", protocol_name="range")
    assert (s["error_code"], s["assignment"], s["protocol_name"]) == (0, b"assignment-1", "range")
    assert heartbeat(c, group, 1, member) == NONE
    assert heartbeat(c, group, 2, member) == ILLEGAL_GENERATION
    assert heartbeat(c, group, 1, "nobody") == UNKNOWN_MEMBER_ID
    assert heartbeat(c, unique("nogroup"), 1, member) == UNKNOWN_MEMBER_ID
    assert heartbeat(c, "", 1, member) == INVALID_GROUP_ID
    assert sync(c, group, 7, member)["error_code"] == ILLEGAL_GENERATION
    assert sync(c, group, 1, member, protocol_name="roundrobin")["error_code"] == INCONSISTENT_GROUP_PROTOCOL
    assert c.request(JOIN, 7, join_body(group, session=100))["error_code"] == INVALID_SESSION_TIMEOUT
    assert c.request(JOIN, 7, join_body(group, "stranger"))["error_code"] == UNKNOWN_MEMBER_ID
    assert c.request(JOIN, 7, join_body(unique("g"), "stranger"))["error_code"] == UNKNOWN_MEMBER_ID
    other_type = c.request(JOIN, 7, join_body(group, protocol_type="connect"))
    assert other_type["error_code"] == INCONSISTENT_GROUP_PROTOCOL
    leave = c.request(LEAVE, 4, {"group_id": group, "members": [{"member_id": member}, {"member_id": "ghost"}]})
    assert leave["error_code"] == 0
    assert [m["error_code"] for m in leave["members"]] == [0, UNKNOWN_MEMBER_ID]
    assert heartbeat(c, group, 1, member) == UNKNOWN_MEMBER_ID


@pytest.mark.parametrize("version", range(0, 10))
def test_join_sync_heartbeat_leave_every_version(raw_factory, version: int) -> None:
    group = unique("g")
    c = raw_factory()
    resp = join(c, group, version)
    assert resp["error_code"] == 0, resp
    member, generation = resp["member_id"], resp["generation_id"]
    assert generation == 1 and resp["leader"] == member
    sync_version = min(version, 5)
    s = sync(c, group, generation, member, [(member, b"a")], version=sync_version)
    assert (s["error_code"], s["assignment"]) == (0, b"a")
    assert heartbeat(c, group, generation, member, version=min(version, 4)) == 0
    leave_version = min(version, 5)
    if leave_version < 3:
        assert c.request(LEAVE, leave_version, {"group_id": group, "member_id": member})["error_code"] == 0
        assert c.request(LEAVE, leave_version, {"group_id": group, "member_id": member})["error_code"] == UNKNOWN_MEMBER_ID
    else:
        r = c.request(LEAVE, leave_version, {"group_id": group, "members": [{"member_id": member, "reason": "bye"}]})
        assert r["error_code"] == 0 and r["members"][0]["error_code"] == 0


def listed_groups(c: Raw) -> set[str]:
    return {g["group_id"] for g in c.request(LIST, 4, {"states_filter": []})["groups"]}


def test_expiry_sweep_keeps_a_group_whose_member_is_joining(raw_factory) -> None:
    """A member told MEMBER_ID_REQUIRED is pending in a group that is otherwise Empty, with no offsets; the expiry
    sweep (every 200 ms here) must not delete the group under it, or its join with the id fails UNKNOWN_MEMBER_ID.
    A canary group (joined and left: Empty, no offsets) shows a sweep has run since the member was told its id."""
    group, canary = unique("g"), unique("canary")
    c = raw_factory()
    first = c.request(JOIN, 7, join_body(group, session=60000))
    assert first["error_code"] == MEMBER_ID_REQUIRED, first
    member = first["member_id"]
    joined = c.request(JOIN, 3, join_body(canary))
    assert joined["error_code"] == 0, joined
    assert c.request(LEAVE, 1, {"group_id": canary, "member_id": joined["member_id"]})["error_code"] == 0
    wait_until(lambda: canary not in listed_groups(c), 30, what="the sweep to expire the empty canary group")
    assert group in listed_groups(c)
    resp = c.request(JOIN, 7, join_body(group, member, session=60000))
    assert (resp["error_code"], resp["member_id"], resp["generation_id"]) == (0, member, 1), resp


def test_second_member_rebalances_and_protocol_is_chosen_by_all(raw_factory, fast_broker) -> None:
    group = unique("g")
    a, b, c = raw_factory(), raw_factory(), raw_factory()
    ra = join(a, group, protocols=(("range", b"A-range"), ("roundrobin", b"A-rr")))
    ma = ra["member_id"]
    assert sync(a, group, 1, ma, [(ma, b"all")])["assignment"] == b"all"
    # a member supporting no protocol in common is refused
    assert join(c, group, protocols=(("sticky", b""),))["error_code"] == INCONSISTENT_GROUP_PROTOCOL
    # b's join parks until a rejoins
    first = b.request(JOIN, 7, join_body(group, protocols=(("roundrobin", b"B-rr"),)))
    mb = first["member_id"]
    pending_b = b.start(JOIN, 7, join_body(group, mb, protocols=(("roundrobin", b"B-rr"),)))
    wait_until(lambda: heartbeat(a, group, 1, ma) == REBALANCE_IN_PROGRESS, 20, what="b's join to start a rebalance")
    ra2 = a.request(JOIN, 7, join_body(group, ma, protocols=(("range", b"A-range"), ("roundrobin", b"A-rr"))))
    rb2 = b.finish(pending_b)
    assert ra2["error_code"] == rb2["error_code"] == 0
    assert ra2["generation_id"] == rb2["generation_id"] == 2
    assert ra2["protocol_name"] == rb2["protocol_name"] == "roundrobin"  # the only protocol both support
    assert ra2["leader"] == rb2["leader"] == ma
    assert {m["member_id"]: m["metadata"] for m in ra2["members"]} == {ma: b"A-rr", mb: b"B-rr"}
    assert rb2["members"] == []
    # the follower's SyncGroup parks until the leader's assignment arrives
    pending_sync = b.start(SYNC, 5, {"group_id": group, "generation_id": 2, "member_id": mb,
                                     "protocol_type": "consumer", "protocol_name": "roundrobin", "assignments": []})
    time.sleep(0.2)
    assert sync(a, group, 2, ma, [(ma, b"to-a"), (mb, b"to-b")])["assignment"] == b"to-a"
    rs = b.finish(pending_sync)
    assert (rs["error_code"], rs["assignment"], rs["protocol_type"]) == (0, b"to-b", "consumer")
    # old generation commits are refused, current ones accepted
    topic = unique("t")
    create_topic(fast_broker.bootstrap, topic, 2)
    assert commit(a, group, {(topic, 0): 5}, generation=1, member_id=ma) == {(topic, 0): ILLEGAL_GENERATION}
    assert commit(a, group, {(topic, 0): 5}, generation=2, member_id=ma) == {(topic, 0): 0}
    assert commit(a, group, {(topic, 0): 5}) == {(topic, 0): UNKNOWN_MEMBER_ID}  # simple commit, non-empty group


def test_session_expiry_removes_silent_member(raw_factory) -> None:
    group = unique("g")
    a, b = raw_factory(), raw_factory()
    # a's session is long, so a slow machine cannot make a miss it while heartbeating; b's is short
    ra = join(a, group, session=30000)
    ma = ra["member_id"]
    sync(a, group, 1, ma, [(ma, b"x")])
    first = b.request(JOIN, 7, join_body(group, session=1000))
    pending = b.start(JOIN, 7, join_body(group, first["member_id"], session=1000))
    time.sleep(0.2)
    a.request(JOIN, 7, join_body(group, ma, session=30000))
    rb = b.finish(pending)
    assert rb["generation_id"] == 2
    sync(a, group, 2, ma, [(ma, b"x"), (rb["member_id"], b"y")])
    assert sync(b, group, 2, rb["member_id"])["assignment"] == b"y"
    # b goes silent: a keeps heartbeating and is told to rejoin once b's session has expired
    deadline = time.monotonic() + 30
    code = 0
    while time.monotonic() < deadline:
        code = heartbeat(a, group, 2, ma)
        if code:
            break
        time.sleep(0.2)
    assert code == REBALANCE_IN_PROGRESS
    ra3 = a.request(JOIN, 7, join_body(group, ma, session=30000))
    assert ra3["generation_id"] == 3 and [m["member_id"] for m in ra3["members"]] == [ma]
    assert heartbeat(b, group, 2, rb["member_id"]) == UNKNOWN_MEMBER_ID


def test_rebalance_timeout_drops_members_that_do_not_rejoin(raw_factory) -> None:
    group = unique("g")
    a, b = raw_factory(), raw_factory()
    ra = join(a, group, session=5000, rebalance=1500)
    ma = ra["member_id"]
    sync(a, group, 1, ma, [(ma, b"")])
    first = b.request(JOIN, 7, join_body(group, session=5000, rebalance=1500))
    started = time.monotonic()
    pending_b = b.start(JOIN, 7, join_body(group, first["member_id"], session=5000, rebalance=1500))
    # a never rejoins: after the rebalance timeout the generation completes with b alone (a heartbeats meanwhile,
    # which does not count as rejoining)
    wait_until(lambda: heartbeat(a, group, 1, ma) == REBALANCE_IN_PROGRESS, 20, what="b's join to start a rebalance")
    rb = b.finish(pending_b)
    assert time.monotonic() - started >= 1.5  # b waited for the rebalance timeout (no upper bound: load)
    assert rb["generation_id"] == 2 and rb["leader"] == first["member_id"]
    assert [m["member_id"] for m in rb["members"]] == [first["member_id"]]
    assert heartbeat(a, group, 1, ma) == UNKNOWN_MEMBER_ID


def test_static_member_rejoins_without_rebalance_and_fences_the_old_id(raw_factory, fast_broker) -> None:
    group, topic = unique("g"), unique("t")
    create_topic(fast_broker.bootstrap, topic, 1)
    a, a2, b = raw_factory(), raw_factory(), raw_factory()
    ra = a.request(JOIN, 5, join_body(group, instance="inst-a"))
    assert ra["error_code"] == 0 and ra["member_id"].startswith("inst-a-")  # static members skip KIP-394
    ma = ra["member_id"]
    sync(a, group, 1, ma, [(ma, b"a-share")], version=3, instance="inst-a")
    # the same instance comes back (a restart): new member id, same generation, same assignment, no rebalance
    again = a2.request(JOIN, 5, join_body(group, instance="inst-a"))
    assert again["error_code"] == 0 and again["member_id"] != ma
    assert again["generation_id"] == 1
    assert again["leader"] == ma  # v<9: the old leader id, so the member syncs as a follower
    s = sync(a2, group, 1, again["member_id"], version=3, instance="inst-a")
    assert (s["error_code"], s["assignment"]) == (0, b"a-share")
    # the old incarnation is fenced everywhere
    assert heartbeat(a, group, 1, ma, instance="inst-a") == FENCED_INSTANCE_ID
    assert sync(a, group, 1, ma, version=3, instance="inst-a")["error_code"] == FENCED_INSTANCE_ID
    assert a.request(JOIN, 5, join_body(group, ma, instance="inst-a"))["error_code"] == FENCED_INSTANCE_ID
    assert commit(a, group, {(topic, 0): 1}, generation=1, member_id=ma, instance="inst-a", version=7) == {
        (topic, 0): FENCED_INSTANCE_ID}
    assert heartbeat(a2, group, 1, again["member_id"], instance="inst-a") == 0
    # an offset keeps the group through this broker's expiry sweep once it is empty (at the end)
    assert commit(a2, group, {(topic, 0): 2}, generation=1, member_id=again["member_id"], instance="inst-a",
                  version=7) == {(topic, 0): 0}
    # v9: a returning static leader is told to skip the assignment
    v9 = b.request(JOIN, 9, join_body(group, instance="inst-a"))
    assert v9["error_code"] == 0 and v9["skip_assignment"] is True and v9["leader"] == v9["member_id"]
    assert [m["group_instance_id"] for m in v9["members"]] == ["inst-a"]
    # an admin removes the static member by instance id (v3+ batch leave with an empty member id)
    leave = b.request(LEAVE, 3, {"group_id": group, "members": [
        {"member_id": "", "group_instance_id": "inst-a"}, {"member_id": "", "group_instance_id": "nobody"}]})
    assert [m["error_code"] for m in leave["members"]] == [0, UNKNOWN_MEMBER_ID]
    described = b.request(DESCRIBE, 5, {"groups": [group]})["groups"][0]
    assert described["group_state"] == "Empty" and described["members"] == []


def test_initial_rebalance_delay_gathers_members(tmp_path) -> None:
    from tests.conftest import BrokerProcess

    broker = BrokerProcess(tmp_path / "data", "--set", "group.initial.rebalance.delay.ms=3000").start()
    try:
        group = unique("g")
        with Raw(broker.bootstrap) as a, Raw(broker.bootstrap) as b:
            ida = a.request(JOIN, 7, join_body(group))["member_id"]
            idb = b.request(JOIN, 7, join_body(group))["member_id"]
            pa = a.start(JOIN, 7, join_body(group, ida))
            time.sleep(0.5)
            pb = b.start(JOIN, 7, join_body(group, idb))
            ra, rb = a.finish(pa), b.finish(pb)
            assert ra["generation_id"] == rb["generation_id"] == 1  # one generation with both, no second rebalance
            assert len(ra["members"]) == 2
    finally:
        broker.stop()


def test_offsets_commit_fetch_every_version(raw_factory, fast_broker) -> None:
    topic = unique("t")
    create_topic(fast_broker.bootstrap, topic, 3)
    c = raw_factory()
    for version in range(0, 10):
        group = unique("g")
        errors = commit(c, group, {(topic, 0): 10 + version, (topic, 2): 20}, version=version,
                        metadata=f"meta-{version}")
        assert errors == {(topic, 0): 0, (topic, 2): 0}, (version, errors)
        fetch_version = min(version, 7)
        if fetch_version >= 1:
            error, got = fetch(c, group, {topic: [0, 1, 2]}, version=fetch_version)
            assert error == 0
            assert got == {(topic, 0): (10 + version, f"meta-{version}", 0), (topic, 1): (-1, "", 0),
                           (topic, 2): (20, f"meta-{version}", 0)}
        if fetch_version >= 2:
            _, everything = fetch(c, group, None, version=fetch_version)
            assert set(everything) == {(topic, 0), (topic, 2)}
    # v8+: several groups in one request, one of them unknown
    g1, g2 = unique("g"), unique("g")
    commit(c, g1, {(topic, 1): 111})
    commit(c, g2, {(topic, 1): 222}, metadata=None)
    body = {"groups": [{"group_id": g1, "topics": [{"name": topic, "partition_indexes": [1]}]},
                       {"group_id": g2, "topics": None},
                       {"group_id": unique("none"), "topics": [{"name": topic, "partition_indexes": [0]}]}],
            "require_stable": True}
    for version in (8, 9):
        resp = c.request(FETCH_OFFSETS, version, body)
        groups = {g["group_id"]: g for g in resp["groups"]}
        assert groups[g1]["topics"][0]["partitions"][0]["committed_offset"] == 111
        assert groups[g2]["topics"][0]["partitions"][0]["committed_offset"] == 222
        assert groups[g2]["topics"][0]["partitions"][0]["metadata"] == ""
        unknown = resp["groups"][2]["topics"][0]["partitions"][0]
        assert (unknown["committed_offset"], unknown["error_code"]) == (-1, 0)


def test_offset_commit_errors(raw_factory, fast_broker) -> None:
    topic = unique("t")
    create_topic(fast_broker.bootstrap, topic, 1)
    c = raw_factory()
    group = unique("g")
    assert commit(c, group, {(topic, 0): 1, (topic, 5): 1, ("no-such-topic-x", 0): 1}) == {
        (topic, 0): 0, (topic, 5): UNKNOWN_TOPIC_OR_PARTITION, ("no-such-topic-x", 0): UNKNOWN_TOPIC_OR_PARTITION}
    assert commit(c, group, {(topic, 0): 1}, metadata="x" * 5000) == {(topic, 0): OFFSET_METADATA_TOO_LARGE}
    assert commit(c, unique("g"), {(topic, 0): 1}, generation=3, member_id="m", version=8) == {(topic, 0): ILLEGAL_GENERATION}
    assert commit(c, unique("g"), {(topic, 0): 1}, generation=3, member_id="m", version=9) == {(topic, 0): GROUP_ID_NOT_FOUND}
    assert commit(c, "", {(topic, 0): 1}) == {(topic, 0): INVALID_GROUP_ID}
    assert fetch(c, group, {topic: [0]})[1][(topic, 0)][0] == 1


def test_group_administration(raw_factory, fast_broker) -> None:
    topic, other = unique("t"), unique("t")
    create_topic(fast_broker.bootstrap, topic, 2)
    create_topic(fast_broker.bootstrap, other, 1)
    a = raw_factory()
    active, simple = unique("g"), unique("g")
    ra = join(a, active, protocols=(("range", subscription(topic)),))
    ma = ra["member_id"]
    sync(a, active, 1, ma, [(ma, b"assign")])
    commit(a, active, {(topic, 0): 3, (other, 0): 4}, generation=1, member_id=ma)
    commit(a, simple, {(topic, 1): 7})
    # ListGroups: every version, filters from v4/v5
    for version in range(0, 6):
        groups = {g["group_id"]: g for g in a.request(LIST, version, {})["groups"]}
        assert groups[active]["protocol_type"] == "consumer" and groups[simple]["protocol_type"] == ""
        if version >= 4:
            assert groups[active]["group_state"] == "Stable" and groups[simple]["group_state"] == "Empty"
        if version >= 5:
            assert groups[active]["group_type"] == "classic"
    stable = {g["group_id"] for g in a.request(LIST, 4, {"states_filter": ["stable"]})["groups"]}
    assert active in stable and simple not in stable
    assert active not in {g["group_id"] for g in a.request(LIST, 5, {"types_filter": ["consumer"]})["groups"]}
    assert active in {g["group_id"] for g in a.request(LIST, 5, {"types_filter": ["Classic"]})["groups"]}
    # DescribeGroups
    for version in range(0, 7):
        d = a.request(DESCRIBE, version, {"groups": [active, "no-such-group"], "include_authorized_operations": True})
        g, missing = d["groups"]
        assert (g["error_code"], g["group_state"], g["protocol_type"], g["protocol_data"]) == (0, "Stable", "consumer", "range")
        member = g["members"][0]
        assert (member["member_id"], member["client_id"], member["client_host"]) == (ma, "rawclient", "/127.0.0.1")
        assert member["member_assignment"] == b"assign" and member["member_metadata"] == subscription(topic)
        assert missing["group_state"] == "Dead"
        assert missing["error_code"] == (GROUP_ID_NOT_FOUND if version >= 6 else 0)
    # OffsetDelete: subscribed topic refused, other topic fine, unknown group
    r = a.request(OFFSET_DELETE, 0, {"group_id": active, "topics": [
        {"name": topic, "partitions": [{"partition_index": 0}]}, {"name": other, "partitions": [{"partition_index": 0}]}]})
    assert r["error_code"] == 0
    assert {t["name"]: t["partitions"][0]["error_code"] for t in r["topics"]} == {topic: GROUP_SUBSCRIBED_TO_TOPIC, other: 0}
    assert fetch(a, active, {other: [0]})[1][(other, 0)][0] == -1
    assert a.request(OFFSET_DELETE, 0, {"group_id": unique("g"), "topics": []})["error_code"] == GROUP_ID_NOT_FOUND
    # DeleteGroups: non-empty refused, unknown, and the empty simple group goes with its offsets
    for version in range(0, 3):
        r = a.request(DELETE_GROUPS, version, {"groups_names": [active, unique("none")]})
        assert [x["error_code"] for x in r["results"]] == [NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND]
    r = a.request(DELETE_GROUPS, 2, {"groups_names": [simple]})
    assert r["results"][0]["error_code"] == 0
    assert fetch(a, simple, {topic: [1]})[1][(topic, 1)][0] == -1
    assert simple not in {g["group_id"] for g in a.request(LIST, 0, {})["groups"]}
