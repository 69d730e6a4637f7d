"""confluent-kafka's ShareConsumer against kbroker: queue semantics of KIP-932 share groups, end to end."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

from confluent_kafka import AcknowledgeType, Producer

from tests.share.conftest import (
    collect,
    create_topics,
    poll_messages,
    produce,
    set_group_configs,
    share_broker,  # noqa: F401 (fixture)
    share_consumer,
    share_request,
    start_offsets,
    unique,
    wait_until,
)


def _members(bootstrap: str, group: str) -> list[dict]:
    resp = share_request(bootstrap, 77, 1, {"group_ids": [group], "include_authorized_operations": False})
    g = resp["groups"][0]
    return g["members"] if g["error_code"] == 0 else []


def test_three_consumers_share_one_partition(share_broker) -> None:
    bootstrap = share_broker.bootstrap
    topic, group = unique("share3"), unique("g")
    create_topics(bootstrap, (topic, 1))
    set_group_configs(bootstrap, group, {"share.auto.offset.reset": "earliest"})
    # small fetches (100 records, 0.2 s of work each): no consumer can drain the queue before the others fetch
    consumers = [share_consumer(bootstrap, group, topic, **{"max.poll.records": 100}) for _ in range(3)]
    got: list[list[int]] = [[], [], []]
    seen: set[int] = set()
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            while not stop.is_set():
                for m in poll_messages(consumers[i], 0.3):
                    time.sleep(0.002)  # the work a record takes: one consumer cannot drain the queue alone
                    with lock:
                        got[i].append(m.offset())
                        seen.add(m.offset())
        except BaseException as exc:  # surfaced by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(3)]
    for t in threads:
        t.start()
    try:
        # all three members hold the one partition before any record exists, so none can take everything first
        wait_until(lambda: len(_members(bootstrap, group)) == 3 and all(
            m["assignment"]["topic_partitions"] for m in _members(bootstrap, group)), 30, what="three members")
        time.sleep(1.5)  # and each has opened its share session (not visible from outside)
        produce(bootstrap, topic, 3000)
        wait_until(lambda: len(seen) >= 3000 or errors, 120, step=0.2, what="every record delivered")
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        for c in consumers:
            c.close()
    assert not errors, errors
    assert seen == set(range(3000))
    assert all(got), [len(g) for g in got]  # each consumer did some of the work
    assert sum(len(g) for g in got) == 3000, "a record was delivered twice although every lock was kept"
    assert start_offsets(bootstrap, group, topic, [0]) == {0: 3000}


def test_released_records_come_back_rejected_never(share_broker) -> None:
    bootstrap = share_broker.bootstrap
    topic, group = unique("sharerel"), unique("g")
    create_topics(bootstrap, (topic, 1))
    set_group_configs(bootstrap, group, {"share.auto.offset.reset": "earliest"})
    produce(bootstrap, topic, 30)
    first = share_consumer(bootstrap, group, topic, explicit=True)
    try:
        received = []
        deadline = time.monotonic() + 30
        while len(received) < 30 and time.monotonic() < deadline:
            for m in poll_messages(first, 0.5):
                kind = (AcknowledgeType.RELEASE, AcknowledgeType.REJECT, AcknowledgeType.ACCEPT)[m.offset() % 3]
                first.acknowledge(m, kind)
                received.append(m.offset())
            first.commit_sync(15)
        assert sorted(received) == list(range(30))
    finally:
        first.close()
    second = share_consumer(bootstrap, group, topic)
    try:
        released = {o for o in range(30) if o % 3 == 0}
        got = collect(second, until=lambda ms: {m.offset() for m in ms} >= released, timeout=30,
                      what="the released records")
        end = time.monotonic() + 2
        while time.monotonic() < end:  # rejected and accepted ones must not follow
            got.extend(poll_messages(second, 0.5))
    finally:
        second.close()
    assert sorted(m.offset() for m in got) == sorted(released)
    assert start_offsets(bootstrap, group, topic, [0]) == {0: 30}


_KILLED = textwrap.dedent("""
    import os, signal, sys
    from confluent_kafka import ShareConsumer
    c = ShareConsumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2],
                       "share.acknowledgement.mode": "explicit"})
    c.subscribe([sys.argv[3]])
    held = 0
    while held == 0:
        held = len([m for m in c.poll(1.0) if m.error() is None])
    print(held, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_killed_consumer_records_come_back_after_the_lock(share_broker) -> None:
    bootstrap = share_broker.bootstrap
    topic, group = unique("sharekill"), unique("g")
    create_topics(bootstrap, (topic, 1))
    set_group_configs(bootstrap, group, {"share.auto.offset.reset": "earliest", "share.record.lock.duration.ms": "2000"})
    produce(bootstrap, topic, 20)
    proc = subprocess.run([sys.executable, "-c", _KILLED, bootstrap, group, topic], capture_output=True, text=True,
                          timeout=60, env=os.environ)
    assert proc.returncode == -9, proc.stderr[-2000:]
    held = int(proc.stdout.split()[0])
    assert held > 0
    survivor = share_consumer(bootstrap, group, topic)
    try:
        got = collect(survivor, until=lambda ms: len({m.offset() for m in ms}) >= 20, timeout=30,
                      what="the killed consumer's records")
    finally:
        survivor.close()
    assert {m.offset() for m in got} == set(range(20))


def test_delivery_count_limit_archives_a_record_that_keeps_failing(share_broker) -> None:
    bootstrap = share_broker.bootstrap
    topic, group = unique("sharepoison"), unique("g")
    create_topics(bootstrap, (topic, 1))
    set_group_configs(bootstrap, group, {"share.auto.offset.reset": "earliest", "share.delivery.count.limit": "2"})
    produce(bootstrap, topic, 1)
    c = share_consumer(bootstrap, group, topic, explicit=True)
    deliveries = 0
    try:
        end = time.monotonic() + 20
        while time.monotonic() < end and start_offsets(bootstrap, group, topic, [0]) != {0: 1}:
            for m in poll_messages(c, 0.5):
                deliveries += 1
                c.acknowledge(m, AcknowledgeType.RELEASE)
            c.commit_sync(15)
        end = time.monotonic() + 2
        while time.monotonic() < end:
            assert not poll_messages(c, 0.5), "an archived record was delivered again"
    finally:
        c.close()
    assert deliveries == 2
    assert start_offsets(bootstrap, group, topic, [0]) == {0: 1}


def test_read_committed_share_group_skips_aborted_records(share_broker) -> None:
    bootstrap = share_broker.bootstrap
    topic, group = unique("sharetxn"), unique("g")
    create_topics(bootstrap, (topic, 1))
    set_group_configs(bootstrap, group, {"share.auto.offset.reset": "earliest",
                                         "share.isolation.level": "read_committed"})
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": unique("tx")})
    p.init_transactions(15)
    for commit in (True, False, True):
        p.begin_transaction()
        for i in range(5):
            p.produce(topic, value=f"{'c' if commit else 'a'}{i}".encode(), partition=0)
        (p.commit_transaction if commit else p.abort_transaction)(15)
    c = share_consumer(bootstrap, group, topic)
    try:
        got = collect(c, until=lambda ms: len(ms) >= 10, timeout=30, what="the committed records")
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            got.extend(poll_messages(c, 0.5))
    finally:
        c.close()
    assert sorted(m.value() for m in got) == sorted([f"c{i}".encode() for i in range(5)] * 2)
