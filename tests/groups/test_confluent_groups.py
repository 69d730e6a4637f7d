"""confluent-kafka (librdkafka) consumer groups against a real kbroker: partition split, close, kill, commits,
cooperative-sticky, restart with committed offsets, static membership."""
from __future__ import annotations

import time

import pytest

from tests.conftest import BrokerProcess
from tests.groups.conftest import child_consumer, create_topic, owned, takeover_after_kill, unique, wait_until

confluent_kafka = pytest.importorskip("confluent_kafka")
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402

PARTITIONS = 6


def produce(bootstrap: str, topic: str, count: int, partitions: int = PARTITIONS) -> set[bytes]:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    values = set()
    for i in range(count):
        value = b"m-%d" % i
        p.produce(topic, value=value, partition=i % partitions)
        values.add(value)
    assert p.flush(30) == 0
    return values


def consumer(bootstrap: str, group: str, topic: str | None = None, **extra) -> Consumer:
    conf = {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
            "topic.metadata.refresh.interval.ms": 2000}
    conf.update(extra)
    c = Consumer(conf)
    if topic is not None:
        c.subscribe([topic])
    return c


RETRIABLE_COMMIT = {KafkaError.ILLEGAL_GENERATION, KafkaError.REBALANCE_IN_PROGRESS}


class Tally:
    """Messages seen by a set of consumers that commit each one after processing it, as a careful application
    does: a commit refused during a rebalance (stale generation, rebalance in progress) is kept and retried,
    and whatever is still pending is committed when partitions are revoked."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []
        self.pending: dict[int, dict[tuple[str, int], int]] = {}

    def _commit(self, c: Consumer) -> None:
        pending = self.pending.get(id(c))
        if not pending:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in pending.items()]
        try:
            c.commit(offsets=offsets, asynchronous=False)
        except confluent_kafka.KafkaException as exc:
            assert exc.args[0].code() in RETRIABLE_COMMIT, exc
            return
        pending.clear()

    def on_revoke(self, c: Consumer, partitions: list) -> None:
        self._commit(c)

    def subscribe(self, c: Consumer, topic: str) -> None:
        c.subscribe([topic], on_revoke=self.on_revoke)

    def poll(self, consumers: list[Consumer], timeout: float = 0.01) -> None:
        for c in consumers:
            m = c.poll(timeout)
            if m is not None:
                if m.error():
                    assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
                else:
                    self.seen.append(m.value())
                    self.pending.setdefault(id(c), {})[(m.topic(), m.partition())] = m.offset() + 1
            self._commit(c)


@pytest.mark.parametrize("strategy", ["range", "cooperative-sticky"])
def test_three_consumers_split_then_one_closes_nothing_lost_or_duplicated(shared_broker, strategy: str) -> None:
    topic, group = unique("t"), unique("g")
    create_topic(shared_broker.bootstrap, topic, PARTITIONS)
    values = produce(shared_broker.bootstrap, topic, 600)
    cs = [consumer(shared_broker.bootstrap, group, **{"partition.assignment.strategy": strategy}) for _ in range(3)]
    tally = Tally()
    for c in cs:
        tally.subscribe(c, topic)
    try:
        # all three share the six partitions, two each
        wait_until(lambda: (tally.poll(cs), [len(c.assignment()) for c in cs] == [2, 2, 2])[1], 30,
                   what="a 2/2/2 split", step=0)
        assert sorted(p for c in cs for p in owned(c)) == list(range(PARTITIONS))
        wait_until(lambda: (tally.poll(cs), len(tally.seen) >= 100)[1], 30, what="some progress", step=0)
        tally.poll(cs[:1])
        cs[0].close()
        rest = cs[1:]
        wait_until(lambda: (tally.poll(rest), sorted(p for c in rest for p in owned(c)) == list(range(PARTITIONS))
                            and all(c.assignment() for c in rest))[1], 30, what="the two others owning all six", step=0)
        wait_until(lambda: (tally.poll(rest), len(tally.seen) >= len(values))[1], 60, what="every message", step=0)
        # a little longer: nothing may come twice
        end = time.monotonic() + 1
        while time.monotonic() < end:
            tally.poll(rest)
        assert set(tally.seen) == values
        assert len(tally.seen) == len(values), f"{len(tally.seen) - len(values)} duplicate(s)"
    finally:
        for c in cs[1:]:
            c.close()


def test_killed_consumer_partitions_move_after_its_session_times_out(shared_broker) -> None:
    topic, group = unique("t"), unique("g")
    create_topic(shared_broker.bootstrap, topic, PARTITIONS)
    child = child_consumer(shared_broker.bootstrap, group, topic, **{"session.timeout.ms": 6000,
                           "heartbeat.interval.ms": 500, "auto.offset.reset": "earliest"})
    cs = [consumer(shared_broker.bootstrap, group, topic) for _ in range(2)]
    try:
        takeover_after_kill(child, cs, PARTITIONS)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        for c in cs:
            c.close()


def test_committed_offsets_and_metadata_survive_a_restart(tmp_path) -> None:
    broker = BrokerProcess(tmp_path / "data").start()
    try:
        topic, group = unique("t"), unique("g")
        create_topic(broker.bootstrap, topic, 2)
        produce(broker.bootstrap, topic, 100, partitions=2)
        c = consumer(broker.bootstrap, group, topic)
        got: dict[int, list[int]] = {0: [], 1: []}
        try:
            def sixty() -> bool:
                m = c.poll(0.2)
                if m is not None and not m.error():
                    got[m.partition()].append(m.offset())
                return sum(map(len, got.values())) >= 60

            wait_until(sixty, 30, what="60 messages", step=0)
            commits = [TopicPartition(topic, p, max(offs) + 1, metadata=f"meta-{p}-{max(offs) + 1}")
                       for p, offs in got.items() if offs]
            c.commit(offsets=commits, asynchronous=False)
        finally:
            c.close()
        expected = {tp.partition: tp.offset for tp in commits}
        broker.stop()
        broker.start()

        c = consumer(broker.bootstrap, group, topic)
        try:
            committed = c.committed([TopicPartition(topic, p) for p in range(2)], timeout=20)
            assert {tp.partition: tp.offset for tp in committed if tp.offset >= 0} == expected
            assert {tp.partition: tp.metadata for tp in committed if tp.offset >= 0} == {
                p: f"meta-{p}-{o}" for p, o in expected.items()}
            first: dict[int, int] = {}
            count = [0]

            def resumed() -> bool:
                m = c.poll(0.2)
                if m is not None and not m.error():
                    first.setdefault(m.partition(), m.offset())
                    count[0] += 1
                return count[0] >= 100 - sum(expected.values())

            wait_until(resumed, 30, what="the rest of the messages", step=0)
            for p, offset in first.items():
                assert offset == expected.get(p, 0)
        finally:
            c.close()
    finally:
        broker.stop()


def test_static_member_restart_keeps_assignment_without_rebalance(shared_broker) -> None:
    topic, group = unique("t"), unique("g")
    create_topic(shared_broker.bootstrap, topic, PARTITIONS)
    assigned: dict[str, int] = {"a": 0, "b": 0}

    def counting(name: str):  # type: ignore[no-untyped-def]
        def on_assign(c, partitions):  # type: ignore[no-untyped-def]
            assigned[name] += 1
        return on_assign

    def static(name: str) -> Consumer:
        c = consumer(shared_broker.bootstrap, group, **{"group.instance.id": f"static-{name}"})
        c.subscribe([topic], on_assign=counting(name))
        return c

    a, b = static("a"), static("b")
    errors: list = []
    try:
        wait_until(lambda: (a.poll(0.05), b.poll(0.05), len(a.assignment()) == len(b.assignment()) == 3)[2], 30,
                   what="a 3/3 split")
        before_a, before_b = owned(a), owned(b)
        assigns_b = assigned["b"]
        a.close()  # a static member does not leave the group on close (KIP-345)
        a = static("a")
        wait_until(lambda: (a.poll(0.05), b.poll(0.05), owned(a) == before_a)[2], 20, what="a's partitions back")
        end = time.monotonic() + 2
        while time.monotonic() < end:
            b.poll(0.05)
            a.poll(0.05)
        assert owned(b) == before_b and assigned["b"] == assigns_b, "b saw a rebalance"
        # a second live instance with the same id fences the first
        dup = consumer(shared_broker.bootstrap, group, **{"group.instance.id": "static-a",
                                                         "error_cb": lambda e: errors.append(e)})
        a_errors: list = []
        a_conf_errors = a_errors
        dup.subscribe([topic])

        def fenced() -> bool:
            dup.poll(0.05)
            m = a.poll(0.05)
            if m is not None and m.error():
                a_conf_errors.append(m.error())
            return any(e.code() == KafkaError.FENCED_INSTANCE_ID or "fenced" in e.str().lower() for e in a_errors)

        wait_until(fenced, 20, what="the older static member to be fenced")
        dup.close()
    finally:
        for c in (a, b):
            try:
                c.close()
            except Exception:
                pass
