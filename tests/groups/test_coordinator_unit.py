"""The coordinator without sockets: __consumer_offsets record layouts, group placement, offsets retention and
replay (real GroupCoordinator and MemoryOffsetStore; retention is minutes long, so time is passed in)."""
from __future__ import annotations

import anyio

from kbroker.coordinator.group_coordinator import GroupCoordinator
from kbroker.coordinator.records import (
    GroupMetadata,
    GroupRecord,
    MemberMetadata,
    OffsetAndMetadata,
    OffsetRecord,
    decode,
    encode_key,
    encode_value,
    java_string_hash,
    partition_for,
)
from kbroker.coordinator.store import MemoryOffsetStore
from kbroker.coordinator.timer import Timer

MINUTE = 60_000


def test_java_string_hash_and_partition() -> None:
    assert java_string_hash("") == 0
    assert java_string_hash("a") == 97
    assert java_string_hash("hello") == 99162322
    assert java_string_hash("polygenelubricants") == -(2**31)  # Utils.abs maps it to 0
    assert partition_for("polygenelubricants", 50) == 0
    assert java_string_hash("\U0001F600") == java_string_hash("\ud83d\ude00".encode("utf-16", "surrogatepass").decode("utf-16"))
    assert all(0 <= partition_for(f"group-{i}", 50) < 50 for i in range(200))


def test_record_layouts_round_trip() -> None:
    offset = OffsetRecord("g", "topic", 3, OffsetAndMetadata(42, 7, "meta", 1_700_000_000_000))
    key = encode_key(offset)
    assert key == b"\x00\x01\x00\x01g\x00\x05topic\x00\x00\x00\x03"  # OffsetCommitKey v1
    value = encode_value(offset)
    assert value[:2] == b"\x00\x03"  # OffsetCommitValue v3
    assert decode(key, value) == offset
    expiring = OffsetRecord("g", "t", 0, OffsetAndMetadata(1, -1, "", 5, 99))
    assert encode_value(expiring)[:2] == b"\x00\x01" and decode(encode_key(expiring), encode_value(expiring)) == expiring
    assert decode(key, None) == OffsetRecord("g", "topic", 3, None)
    group = GroupRecord("g", GroupMetadata("consumer", 4, "range", "m1", 123, [
        MemberMetadata("m1", "inst", "client", "/127.0.0.1", 30000, 6000, b"sub", b"assign"),
        MemberMetadata("m2", None, "client", "/127.0.0.1", 30000, 6000, b"", b"")]))
    assert encode_key(group) == b"\x00\x02\x00\x01g"
    assert decode(encode_key(group), encode_value(group)) == group
    assert decode(b"\x00\x04\x00\x01g", b"") is None  # record types this coordinator does not keep


def test_timer_replaces_and_cancels() -> None:
    now = [0]
    timer = Timer(clock=lambda: now[0])
    fired: list[str] = []
    timer.schedule("a", 10, lambda: fired.append("a1"))
    timer.schedule("a", 20, lambda: fired.append("a2"))
    timer.schedule("b", 5, lambda: fired.append("b"))
    timer.schedule("c", 1, lambda: fired.append("c"))
    timer.cancel("c")
    now[0] = 15
    timer.poll()
    assert fired == ["b"]
    now[0] = 25
    timer.poll()
    assert fired == ["b", "a2"] and timer.next_deadline() is None


def test_offsets_retention_and_replay() -> None:
    async def main() -> None:
        store = MemoryOffsetStore()
        config = {"offsets.retention.minutes": 10, "offsets.retention.check.interval.ms": 10**9}
        coordinator = GroupCoordinator(config=config, store=store)
        error, results = coordinator.commit_offsets(
            version=8, group_id="simple", generation_id=-1, member_id="", group_instance_id=None,
            retention_time_ms=-1, partitions=[("t", 0, 5, -1, "m"), ("t", 1, 6, -1, None)])
        assert error == 0 and set(results.values()) == {0}
        # v2-4 commits may carry their own retention time
        coordinator.commit_offsets(version=2, group_id="short", generation_id=-1, member_id="",
                                   group_instance_id=None, retention_time_ms=MINUTE,
                                   partitions=[("t", 0, 1, -1, "")])
        now = max(v.commit_timestamp_ms for g in coordinator.offsets.values() for v in g.values())
        assert coordinator.expire_offsets(now + 2 * MINUTE) == 1  # only the explicit one-minute retention
        assert "short" not in coordinator.groups and "short" not in coordinator.offsets
        assert coordinator.fetch_offsets("simple", [("t", [0, 1])])[1] == [("t", [(0, 5, -1, "m", 0), (1, 6, -1, "", 0)])]
        # a fresh coordinator over the same store sees the same state
        again = GroupCoordinator(config=config, store=store)
        assert again.fetch_offsets("simple", None)[1] == [("t", [(0, 5, -1, "m", 0), (1, 6, -1, "", 0)])]
        assert set(again.groups) == {"simple"}
        again.commit_offsets(version=8, group_id="other", generation_id=-1, member_id="", group_instance_id=None,
                             retention_time_ms=-1, partitions=[("t", 0, 1, -1, ""), ("gone", 0, 2, -1, "")])
        assert again.on_topics_deleted(["gone"]) == 1  # DeleteTopics takes the topic's offsets with it
        assert again.fetch_offsets("other", None)[1] == [("t", [(0, 1, -1, "", 0)])]
        assert again.delete_groups(["other"]) == [("other", 0)]
        assert again.expire_offsets(now + 11 * MINUTE) == 2
        assert again.groups == {} and again.offsets == {}
        third = GroupCoordinator(config=config, store=store)
        assert third.list_groups()[1] == [] and third.fetch_offsets("simple", None)[1] == []

    anyio.run(main)


def test_join_sync_in_process() -> None:
    async def main() -> None:
        coordinator = GroupCoordinator(config={}, store=MemoryOffsetStore())
        first = coordinator.join_group(version=5, group_id="g", member_id="", group_instance_id=None,
                                       session_timeout_ms=6000, rebalance_timeout_ms=6000, protocol_type="consumer",
                                       protocols=[("range", b"x")], client_id="c", client_host="/h")
        response = await coordinator.park(first, 1000)
        assert response is not None and response["error_code"] == 79
        joined = coordinator.join_group(version=5, group_id="g", member_id=response["member_id"],
                                        group_instance_id=None, session_timeout_ms=6000, rebalance_timeout_ms=6000,
                                        protocol_type="consumer", protocols=[("range", b"x")], client_id="c",
                                        client_host="/h")
        response = await coordinator.park(joined, 2000)  # the initial rebalance ends on its timer, run by park
        assert response is not None and response["generation_id"] == 1
        synced = coordinator.sync_group(group_id="g", generation_id=1, member_id=response["member_id"],
                                        group_instance_id=None, protocol_type=None, protocol_name=None,
                                        assignments=[(response["member_id"], b"a")])
        assert (await coordinator.park(synced, 1000))["assignment"] == b"a"  # type: ignore[index]
        assert coordinator.describe_group("g", 5)["group_state"] == "Stable"

    anyio.run(main)


def test_expiry_keeps_a_group_until_its_pending_member_is_gone() -> None:
    """The sweep deletes an Empty group with no offsets, but not while a member told MEMBER_ID_REQUIRED has yet
    to join with its id; once that member's session has run out, the group goes at the next sweep."""
    now = [0]
    coordinator = GroupCoordinator(config={}, store=MemoryOffsetStore())
    coordinator.timer = Timer(clock=lambda: now[0])
    first = coordinator.join_group(version=7, group_id="g", member_id="", group_instance_id=None,
                                   session_timeout_ms=6000, rebalance_timeout_ms=6000, protocol_type="consumer",
                                   protocols=[("range", b"x")], client_id="c", client_host="/h")
    assert first.done and first.response["error_code"] == 79  # MEMBER_ID_REQUIRED
    coordinator.expire_offsets(10**13)
    assert coordinator.describe_group("g", 5)["group_state"] == "Empty"
    now[0] = 6001
    coordinator.timer.poll()  # the pending member's session runs out
    coordinator.expire_offsets(10**13)
    assert coordinator.describe_group("g", 5)["group_state"] == "Dead"


def test_assignors() -> None:
    from kbroker.coordinator.assignors import range_assign, uniform_assign

    t1, t2 = b"1" * 16, b"2" * 16
    topics = {t1: 6, t2: 3}
    members = {"a": {t1, t2}, "b": {t1, t2}, "c": {t1, t2}}

    def flat(result):  # type: ignore[no-untyped-def]
        return sorted((t, p) for assignment in result.values() for t, ps in assignment.items() for p in ps)

    everything = sorted((t, p) for t, n in topics.items() for p in range(n))
    first = uniform_assign(members, topics)
    assert flat(first) == everything
    assert sorted(sum(len(ps) for ps in a.values()) for a in first.values()) == [3, 3, 3]
    # a member leaves: the others keep what they had and share its partitions
    second = uniform_assign({"a": {t1, t2}, "b": {t1, t2}}, topics, first)
    assert flat(second) == everything
    for m in ("a", "b"):
        for t, ps in first[m].items():
            assert ps <= second[m].get(t, set())
    # a member joins: it gets a fair share, the others give up only what they must
    third = uniform_assign({"a": {t1, t2}, "b": {t1, t2}, "d": {t1, t2}}, topics, second)
    assert flat(third) == everything and sorted(sum(map(len, a.values())) for a in third.values()) == [3, 3, 3]
    moved = sum(len(second[m].get(t, set()) - third[m].get(t, set())) for m in ("a", "b") for t in (t1, t2))
    assert moved == 3
    # heterogeneous: b only reads t2; loads stay as even as the subscriptions allow
    hetero = uniform_assign({"a": {t1, t2}, "b": {t2}}, topics)
    assert flat(hetero) == everything and t1 not in hetero["b"]
    assert len(hetero["b"].get(t2, set())) == 3
    # range: contiguous ranges per topic, members in id order, the first ones one more
    r = range_assign({"b": {t1, t2}, "a": {t1, t2}}, {t1: 5, t2: 3})
    assert r == {"a": {t1: {0, 1, 2}, t2: {0, 1}}, "b": {t1: {3, 4}, t2: {2}}}
    assert range_assign({"a": {t1}}, {t1: 0}) == {"a": {}}
