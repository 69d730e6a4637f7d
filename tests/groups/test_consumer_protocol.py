"""The KIP-848 consumer group protocol: confluent-kafka with group.protocol=consumer, and exact frames for the
reconciliation rules (revoke before reassign, epochs, fencing, static members, assignors, regex)."""
from __future__ import annotations

import time

import pytest

from tests.conftest import BrokerProcess, module_broker
from tests.groups.conftest import Raw, child_consumer, create_topic, owned, takeover_after_kill, unique, wait_until

confluent_kafka = pytest.importorskip("confluent_kafka")
from confluent_kafka import Consumer, ConsumerGroupType, KafkaError, KafkaException, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402

HEARTBEAT, DESCRIBE, COMMIT, FETCH_OFFSETS, METADATA, LIST, JOIN = 68, 69, 8, 9, 3, 16, 11
FAST_CONSUMER_GROUPS = ("--set", "group.consumer.heartbeat.interval.ms=500",
                        "--set", "group.consumer.min.heartbeat.interval.ms=500",
                        "--set", "group.consumer.session.timeout.ms=6000",
                        "--set", "group.consumer.min.session.timeout.ms=6000")
PARTITIONS = 6


kip848_broker = module_broker("kip848", *FAST_CONSUMER_GROUPS)


def consumer(bootstrap: str, group: str, **extra) -> Consumer:
    conf = {"bootstrap.servers": bootstrap, "group.id": group, "group.protocol": "consumer",
            "auto.offset.reset": "earliest", "enable.auto.commit": False}
    conf.update(extra)
    return Consumer(conf)


def produce(bootstrap: str, topic: str, count: int) -> set[bytes]:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    values = set()
    for i in range(count):
        values.add(b"m-%d" % i)
        p.produce(topic, value=b"m-%d" % i, partition=i % PARTITIONS)
    assert p.flush(30) == 0
    return values


def topic_id(c: Raw, topic: str) -> bytes:
    meta = c.request(METADATA, 12, {"topics": [{"name": topic, "topic_id": bytes(16)}],
                                    "allow_auto_topic_creation": False,
                                    "include_topic_authorized_operations": False})
    return bytes(meta["topics"][0]["topic_id"])


def hb(c: Raw, group: str, member_id: str, epoch: int, *, topics=None, owned=None, instance: str | None = None,
       rebalance: int = -1, assignor: str | None = None, regex: str | None = None, version: int = 1) -> dict:
    body = {"group_id": group, "member_id": member_id, "member_epoch": epoch, "instance_id": instance,
            "rack_id": None, "rebalance_timeout_ms": rebalance, "subscribed_topic_names": topics,
            "subscribed_topic_regex": regex, "server_assignor": assignor,
            "topic_partitions": None if owned is None else [{"topic_id": t, "partitions": sorted(ps)}
                                                            for t, ps in owned.items()]}
    return c.request(HEARTBEAT, version, body)


def parts(response: dict) -> dict[bytes, set[int]]:
    assignment = response["assignment"]
    assert assignment is not None, response
    return {bytes(tp["topic_id"]): set(tp["partitions"]) for tp in assignment["topic_partitions"]}


def join(c: Raw, group: str, member_id: str, topics: list[str], **kw) -> dict:
    r = hb(c, group, member_id, 0, topics=topics, owned={}, rebalance=kw.pop("rebalance", 5000), **kw)
    assert r["error_code"] == 0, r
    return r


# ---------------------------------------------------------------------------------------------------------------
# confluent-kafka


def test_three_consumers_share_then_one_closes(kip848_broker) -> None:
    bootstrap = kip848_broker.bootstrap
    topic, group = unique("t"), unique("g")
    create_topic(bootstrap, topic, PARTITIONS)
    values = produce(bootstrap, topic, 600)
    cs = [consumer(bootstrap, group) for _ in range(3)]
    for c in cs:
        c.subscribe([topic])
    seen: list[bytes] = []
    owed: set[int] = set()  # consumers with consumed messages not committed yet

    def commit(c: Consumer) -> bool:
        """Commit what c consumed. A commit that meets a new member epoch the consumer has not heard of yet gets
        STALE_MEMBER_EPOCH (Kafka's rule; librdkafka hands it to the caller of a manual commit): try again later."""
        try:
            c.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() == KafkaError._NO_OFFSET:
                return True  # nothing left to commit (its partitions moved on)
            if exc.args[0].code() == KafkaError.STALE_MEMBER_EPOCH:
                return False
            raise
        return True

    def drain(consumers: list[Consumer]) -> None:
        for c in consumers:
            m = c.poll(0.02)
            if m is not None and not m.error():
                seen.append(m.value())
                owed.add(id(c))
            if id(c) in owed and commit(c):
                owed.discard(id(c))

    try:
        wait_until(lambda: (drain(cs), [len(c.assignment()) for c in cs] == [2, 2, 2])[1], 30, step=0,
                   what="a 2/2/2 split")
        assert sorted(p for c in cs for p in owned(c)) == list(range(PARTITIONS))
        admin = AdminClient({"bootstrap.servers": bootstrap})
        described = admin.describe_consumer_groups([group])[group].result(20)
        assert described.type == ConsumerGroupType.CONSUMER and len(described.members) == 3
        assert sorted(tp.partition for m in described.members for tp in m.assignment.topic_partitions) == list(range(6))
        listed = admin.list_consumer_groups(types={ConsumerGroupType.CONSUMER}).result(20)
        assert group in {g.group_id for g in listed.valid}
        wait_until(lambda: (drain(cs), len(seen) >= 100)[1], 30, step=0, what="some progress")
        cs[0].close()
        rest = cs[1:]
        wait_until(lambda: (drain(rest), sorted(p for c in rest for p in owned(c)) == list(range(PARTITIONS)))[1],
                   30, step=0, what="the other two owning all six")
        wait_until(lambda: (drain(rest), len(seen) >= len(values))[1], 60, step=0, what="every message")
        end = time.monotonic() + 1
        while time.monotonic() < end:
            drain(rest)
        assert set(seen) == values and len(seen) == len(values)
    finally:
        for c in cs[1:]:
            c.close()


def test_killed_member_is_fenced_after_its_session(kip848_broker) -> None:
    bootstrap = kip848_broker.bootstrap
    topic, group = unique("t"), unique("g")
    create_topic(bootstrap, topic, PARTITIONS)
    child = child_consumer(bootstrap, group, topic, **{"group.protocol": "consumer"})
    cs = [consumer(bootstrap, group) for _ in range(2)]
    for c in cs:
        c.subscribe([topic])
    try:
        takeover_after_kill(child, cs, PARTITIONS)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        for c in cs:
            c.close()


def test_group_and_offsets_survive_a_restart(tmp_path) -> None:
    broker = BrokerProcess(tmp_path / "data", *FAST_CONSUMER_GROUPS).start()
    try:
        topic, group = unique("t"), unique("g")
        create_topic(broker.bootstrap, topic, PARTITIONS)
        produce(broker.bootstrap, topic, 60)
        c = consumer(broker.bootstrap, group)
        c.subscribe([topic])
        count = [0]

        def thirty() -> bool:
            m = c.poll(0.1)
            if m is not None and not m.error():
                count[0] += 1
                c.commit(message=m, asynchronous=False)
            return count[0] >= 30

        def describe() -> dict:
            with Raw(broker.bootstrap) as raw:
                return raw.request(DESCRIBE, 1, {"group_ids": [group], "include_authorized_operations": False}
                                   )["groups"][0]

        try:
            wait_until(thirty, 30, step=0, what="30 messages")
            committed = {tp.partition: tp.offset for tp in
                         c.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)}
            before = describe()
            broker.stop()
            broker.start()
            after = describe()  # straight from the replayed records
            assert after["error_code"] == 0 and after["group_epoch"] == before["group_epoch"]
            assert [(m["member_id"], m["member_epoch"], m["assignment"]) for m in after["members"]] == [
                (m["member_id"], m["member_epoch"], m["assignment"]) for m in before["members"]]
            rest = [0]

            def remaining() -> bool:
                m = c.poll(0.1)
                if m is not None and not m.error():
                    rest[0] += 1
                    assert m.offset() >= committed[m.partition()], "a committed message came again"
                    c.commit(message=m, asynchronous=False)  # the member is still known: no error
                return rest[0] >= 30

            wait_until(remaining, 60, step=0, what="the rest of the messages")
            assert describe()["members"][0]["member_id"] == before["members"][0]["member_id"]
        finally:
            c.close()
    finally:
        broker.stop()


# ---------------------------------------------------------------------------------------------------------------
# exact frames


def test_heartbeat_request_validation(kip848_broker) -> None:
    with Raw(kip848_broker.bootstrap) as c:
        group = unique("g")
        assert hb(c, "", "m", 0, topics=["x"], owned={}, rebalance=1)["error_code"] == 42
        assert hb(c, group, "", 0, topics=["x"], owned={}, rebalance=1, version=1)["error_code"] == 42
        assert hb(c, group, "m", 0, topics=["x"], owned={})["error_code"] == 42  # no rebalance timeout
        assert hb(c, group, "m", 0, topics=None, owned={}, rebalance=1)["error_code"] == 42
        assert hb(c, group, "m", 0, topics=["x"], owned=None, rebalance=1)["error_code"] == 42
        assert hb(c, group, "m", -3)["error_code"] == 42
        assert hb(c, group, "m", 0, topics=["x"], owned={}, rebalance=1, assignor="sticky")["error_code"] == 112
        assert hb(c, group, "m", 0, topics=None, owned={}, rebalance=1, regex="(")["error_code"] == 128
        assert hb(c, group, "m", 3)["error_code"] == 25  # UNKNOWN_MEMBER_ID: no such group (or member)
        # v0: the coordinator chooses the member id
        r = hb(c, group, "", 0, topics=["x"], owned={}, rebalance=1, version=0)
        assert r["error_code"] == 0 and r["member_id"] and r["member_epoch"] == 1


def test_reconciliation_revokes_before_reassigning(kip848_broker) -> None:
    topic, group = unique("t"), unique("g")
    create_topic(kip848_broker.bootstrap, topic, 4)
    with Raw(kip848_broker.bootstrap) as a, Raw(kip848_broker.bootstrap) as b:
        tid = topic_id(a, topic)
        ra = join(a, group, "member-a", [topic])
        assert ra["member_epoch"] == 1 and parts(ra) == {tid: {0, 1, 2, 3}}
        assert ra["heartbeat_interval_ms"] == 500
        rb = join(b, group, "member-b", [topic])
        assert rb["member_epoch"] == 2 and parts(rb) == {}  # its partitions are still a's
        # a is asked to give two up, and stays at epoch 1 until it no longer owns them
        ra = hb(a, group, "member-a", 1, owned={tid: {0, 1, 2, 3}})
        assert ra["member_epoch"] == 1
        kept = parts(ra)[tid]
        assert len(kept) == 2
        ra = hb(a, group, "member-a", 1, owned={tid: {0, 1, 2, 3}})  # not yet revoked
        assert ra["member_epoch"] == 1 and ra["assignment"] is None
        assert a.request(DESCRIBE, 1, {"group_ids": [group], "include_authorized_operations": False}
                         )["groups"][0]["group_state"] == "Reconciling"
        ra = hb(a, group, "member-a", 1, owned={tid: kept})
        assert ra["member_epoch"] == 2
        rb = hb(b, group, "member-b", 2, owned={})
        assert parts(rb) == {tid: {0, 1, 2, 3} - kept}
        d = a.request(DESCRIBE, 1, {"group_ids": [group, unique("none")], "include_authorized_operations": True})
        g, missing = d["groups"]
        assert (g["error_code"], g["group_state"], g["group_epoch"], g["assignment_epoch"], g["assignor_name"]) == (
            0, "Stable", 2, 2, "uniform")
        members = {m["member_id"]: m for m in g["members"]}
        assert set(members) == {"member-a", "member-b"}
        assert members["member-a"]["assignment"]["topic_partitions"][0]["topic_name"] == topic
        assert set(members["member-b"]["assignment"]["topic_partitions"][0]["partitions"]) == {0, 1, 2, 3} - kept
        assert members["member-a"]["client_host"] == "/127.0.0.1" and members["member-a"]["member_type"] == 1
        assert missing["error_code"] == 69
        # epochs the coordinator does not know fence the member; offsets need the member's own epoch
        assert hb(a, group, "member-a", 7, owned={tid: kept})["error_code"] == 110  # FENCED_MEMBER_EPOCH
        body = {"group_id": group, "generation_id_or_member_epoch": 1, "member_id": "member-a",
                "topics": [{"name": topic, "partitions": [{"partition_index": min(kept), "committed_offset": 3,
                                                           "committed_metadata": ""}]}]}
        assert a.request(COMMIT, 9, body)["topics"][0]["partitions"][0]["error_code"] == 113  # STALE_MEMBER_EPOCH
        assert a.request(COMMIT, 8, {**body, "generation_id_or_member_epoch": 2}
                         )["topics"][0]["partitions"][0]["error_code"] == 35  # v9 needed
        assert a.request(COMMIT, 9, {**body, "generation_id_or_member_epoch": 2}
                         )["topics"][0]["partitions"][0]["error_code"] == 0
        fetch = {"groups": [{"group_id": group, "member_id": "member-a", "member_epoch": 1,
                             "topics": None}], "require_stable": True}
        assert a.request(FETCH_OFFSETS, 9, fetch)["groups"][0]["error_code"] == 113
        fetch["groups"][0]["member_epoch"] = 2
        got = a.request(FETCH_OFFSETS, 9, fetch)["groups"][0]
        assert got["error_code"] == 0 and got["topics"][0]["partitions"][0]["committed_offset"] == 3
        # classic clients see the group in ListGroups, not as a classic one
        listed = {x["group_id"]: x for x in a.request(LIST, 5, {"types_filter": ["consumer"]})["groups"]}
        assert listed[group]["group_type"] == "consumer" and listed[group]["group_state"] == "Stable"
        assert a.request(JOIN, 7, {"group_id": group, "session_timeout_ms": 10000, "rebalance_timeout_ms": 10000,
                                   "member_id": "", "protocol_type": "consumer",
                                   "protocols": [{"name": "range", "metadata": b""}]})["error_code"] == 23
        # leaving bumps the epoch and frees the partitions for the other member
        left = hb(b, group, "member-b", -1)
        assert (left["error_code"], left["member_epoch"]) == (0, -1)
        ra = hb(a, group, "member-a", 2, owned={tid: kept})
        assert ra["member_epoch"] == 3 and parts(ra) == {tid: {0, 1, 2, 3}}


def test_range_assignor_and_regex_subscription(kip848_broker) -> None:
    prefix = unique("rx")
    t1, t2 = f"{prefix}-one", f"{prefix}-two"
    create_topic(kip848_broker.bootstrap, t1, 3)
    create_topic(kip848_broker.bootstrap, t2, 3)
    group = unique("g")
    with Raw(kip848_broker.bootstrap) as a, Raw(kip848_broker.bootstrap) as b:
        id1, id2 = topic_id(a, t1), topic_id(a, t2)
        ra = hb(a, group, "a", 0, topics=[], owned={}, rebalance=5000, regex=f"{prefix}-.*", assignor="range")
        assert ra["error_code"] == 0 and parts(ra) == {id1: {0, 1, 2}, id2: {0, 1, 2}}
        join(b, group, "b", [t1, t2], assignor="range")
        ra = hb(a, group, "a", ra["member_epoch"], owned={id1: {0, 1, 2}, id2: {0, 1, 2}})
        # range: the first member by id gets the same (larger) range of each topic
        assert parts(ra) == {id1: {0, 1}, id2: {0, 1}}


def test_static_member_leaves_for_a_while_and_comes_back(kip848_broker) -> None:
    topic, group = unique("t"), unique("g")
    create_topic(kip848_broker.bootstrap, topic, 4)
    with Raw(kip848_broker.bootstrap) as a, Raw(kip848_broker.bootstrap) as b:
        tid = topic_id(a, topic)
        ra = join(a, group, "a-1", [topic], instance="instance-a")
        rb = join(b, group, "b-1", [topic])
        ra = hb(a, group, "a-1", ra["member_epoch"], owned={tid: {0, 1, 2, 3}}, instance="instance-a")
        mine = parts(ra)[tid]
        ra = hb(a, group, "a-1", ra["member_epoch"], owned={tid: mine}, instance="instance-a")
        epoch = ra["member_epoch"]
        # another process claiming the instance while a is live is refused
        clash = hb(b, group, "a-2", 0, topics=[topic], owned={}, rebalance=5000, instance="instance-a")
        assert clash["error_code"] == 111  # UNRELEASED_INSTANCE_ID
        left = hb(a, group, "a-1", -2, instance="instance-a")
        assert (left["error_code"], left["member_epoch"]) == (0, -2)
        back = hb(a, group, "a-2", 0, topics=[topic], owned={}, rebalance=5000, instance="instance-a")
        assert back["error_code"] == 0 and parts(back) == {tid: mine} and back["member_epoch"] == epoch
        assert hb(b, group, "a-1", epoch, instance="instance-a")["error_code"] == 82  # FENCED_INSTANCE_ID
        del rb


classic_only_broker = module_broker("classic-only", "--set", "group.coordinator.rebalance.protocols=classic")


def test_classic_only_broker_refuses_the_consumer_protocol(classic_only_broker) -> None:
    """group.coordinator.rebalance.protocols=classic: as Kafka, ConsumerGroupHeartbeat answers UNSUPPORTED_VERSION
    and nothing else, ConsumerGroupDescribe answers UNSUPPORTED_VERSION per group; both APIs stay advertised in
    ApiVersions (Kafka's DefaultApiVersionManager does not filter them); classic groups work."""
    with Raw(classic_only_broker.bootstrap) as c:
        group = unique("g")
        for version in (0, 1):
            r = hb(c, group, "m" if version else "", 0, topics=["x"], owned={}, rebalance=1000, version=version)
            assert r["error_code"] == 35, r  # UNSUPPORTED_VERSION
            assert (r["member_id"], r["member_epoch"], r["heartbeat_interval_ms"], r["assignment"]) == (None, 0, 0, None)
        described = c.request(DESCRIBE, 0, {"group_ids": [group, "other"], "include_authorized_operations": True})
        assert [(g["group_id"], g["error_code"]) for g in described["groups"]] == [(group, 35), ("other", 35)]
        apis = {a["api_key"] for a in c.request(18, 3, {"client_software_name": "t",
                                                         "client_software_version": "1"})["api_keys"]}
        assert {HEARTBEAT, DESCRIBE} <= apis
    topic = unique("t")
    create_topic(classic_only_broker.bootstrap, topic, PARTITIONS)
    produce(classic_only_broker.bootstrap, topic, 6)
    classic = Consumer({"bootstrap.servers": classic_only_broker.bootstrap, "group.id": unique("cg"),
                        "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        classic.subscribe([topic])
        got = 0
        deadline = time.monotonic() + 30
        while got < 6 and time.monotonic() < deadline:
            msg = classic.poll(0.5)
            if msg is not None and not msg.error():
                got += 1
        assert got == 6
    finally:
        classic.close()


small_groups_broker = module_broker("small-groups", "--set", "group.consumer.max.size=2")


def test_group_consumer_max_size_refuses_a_third_member(small_groups_broker) -> None:
    with Raw(small_groups_broker.bootstrap) as c:
        group = unique("g")
        join(c, group, "m1", ["x"])
        join(c, group, "m2", ["x"])
        third = hb(c, group, "m3", 0, topics=["x"], owned={}, rebalance=5000)
        assert third["error_code"] == 81, third  # GROUP_MAX_SIZE_REACHED
        assert third["error_message"] == "The consumer group has reached its maximum capacity of 2 members."
        assert hb(c, group, "m1", 0, topics=["x"], owned={}, rebalance=5000)["error_code"] == 0  # a member rejoins
