"""Idempotent and transactional producers of confluent-kafka (librdkafka) against kbroker, with read_committed
and read_uncommitted consumers: exactly-once as a Kafka user sees it."""
from __future__ import annotations

import time

import pytest

from tests.conftest import BrokerProcess
from tests.rawclient import RawClient

from .conftest import create_topics, read_values, unique, wait_until

confluent_kafka = pytest.importorskip("confluent_kafka")
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition  # noqa: E402

pytestmark = pytest.mark.timeout(90)


def _delivered(p: Producer, timeout: float = 20) -> None:
    assert p.flush(timeout) == 0, "messages left undelivered"


def test_idempotent_retry_after_a_dropped_connection_is_written_once(tmp_path) -> None:
    """The broker appends the 3rd produce request, then drops the connection before answering: the producer
    retries the same batch (same sequence) and the log must hold every message exactly once."""
    b = BrokerProcess(tmp_path / "data", control=True).start()
    try:
        topic = unique("idem-drop")
        create_topics(b.bootstrap, (topic, 1))
        p = Producer({"bootstrap.servers": b.bootstrap, "enable.idempotence": True, "linger.ms": 0,
                      "max.in.flight.requests.per.connection": 1, "retry.backoff.ms": 50,
                      "reconnect.backoff.ms": 50})
        reports: list[tuple[object, int]] = []
        for i in range(10):
            if i == 2:  # one request per message, so the 3rd request is one known message
                drop = b.faults().drop_connection("Produce", count=1, after_apply=True)
            p.produce(topic, b"m%d" % i, partition=0,
                      on_delivery=lambda err, msg: reports.append((err, msg.offset())))
            p.flush(20)
        _delivered(p)
        b.faults().wait_used(drop, timeout=10)
        assert all(err is None for err, _ in reports), reports
        assert sorted(off for _, off in reports) == list(range(10))
        assert read_values(b.bootstrap, [(topic, 0)], "read_uncommitted") == [b"m%d" % i for i in range(10)]
    finally:
        b.stop()


def test_idempotent_producer_keeps_order_under_load(txn_broker: BrokerProcess) -> None:
    topic = unique("idem-load")
    create_topics(txn_broker.bootstrap, (topic, 2))
    p = Producer({"bootstrap.servers": txn_broker.bootstrap, "enable.idempotence": True, "linger.ms": 5,
                  "batch.num.messages": 50})
    for i in range(2000):
        p.produce(topic, b"%05d" % i, partition=i % 2)
    _delivered(p)
    got = read_values(txn_broker.bootstrap, [(topic, 0), (topic, 1)], "read_uncommitted")
    assert sorted(got) == [b"%05d" % i for i in range(2000)]


def test_committed_and_aborted_transactions_across_topics(txn_broker: BrokerProcess) -> None:
    a, b = unique("txn-a"), unique("txn-b")
    create_topics(txn_broker.bootstrap, (a, 2), (b, 1))
    parts = [(a, 0), (a, 1), (b, 0)]
    p = Producer({"bootstrap.servers": txn_broker.bootstrap, "transactional.id": unique("tx")})
    p.init_transactions(20)
    p.begin_transaction()
    for topic, index in parts:
        for i in range(3):
            p.produce(topic, b"commit-%s-%d-%d" % (topic.encode(), index, i), partition=index)
    p.commit_transaction(20)
    p.begin_transaction()
    for topic, index in parts:
        for i in range(2):
            p.produce(topic, b"abort-%s-%d-%d" % (topic.encode(), index, i), partition=index)
    p.flush(20)
    p.abort_transaction(20)
    p.begin_transaction()
    p.produce(a, b"last", partition=0)
    p.commit_transaction(20)

    committed = read_values(txn_broker.bootstrap, parts, "read_committed")
    everything = read_values(txn_broker.bootstrap, parts, "read_uncommitted")
    assert len(committed) == 10 and all(v.startswith(b"commit") or v == b"last" for v in committed)
    assert len(everything) == 16 and sum(v.startswith(b"abort") for v in everything) == 6
    # control records are never delivered: 2 + 2 + 3 markers sit in the logs
    with RawClient(txn_broker.bootstrap) as c:
        resp = c.request(2, 5, {"replica_id": -1, "isolation_level": 0, "topics": [
            {"name": t, "partitions": [{"partition_index": i, "current_leader_epoch": -1, "timestamp": -1}]}
            for t, i in parts]})
    ends = [p["offset"] for t in resp["topics"] for p in t["partitions"]]
    assert sum(ends) == 16 + 3 + 3 + 1  # data, then a commit and an abort marker per partition, one more in a-0


def test_consume_transform_produce_commits_offsets_with_the_transaction(txn_broker: BrokerProcess) -> None:
    source, sink, group = unique("ctp-in"), unique("ctp-out"), unique("ctp-group")
    create_topics(txn_broker.bootstrap, (source, 2), (sink, 1))
    p = Producer({"bootstrap.servers": txn_broker.bootstrap})
    for i in range(40):
        p.produce(source, b"%d" % i, partition=i % 2)
    _delivered(p)

    def run(limit: int, commit: bool) -> int:
        c = Consumer({"bootstrap.servers": txn_broker.bootstrap, "group.id": group, "enable.auto.commit": False,
                      "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
        c.subscribe([source])
        tp = Producer({"bootstrap.servers": txn_broker.bootstrap, "transactional.id": group + "-tx"})
        tp.init_transactions(20)
        done = 0
        deadline = time.monotonic() + 30
        try:
            while done < limit and time.monotonic() < deadline:
                msgs = [m for m in c.consume(min(10, limit - done), timeout=0.5) if not m.error()]
                if not msgs:
                    continue
                tp.begin_transaction()
                for m in msgs:
                    tp.produce(sink, m.value() + (b"" if commit else b"-aborted"))
                tp.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), 20)
                if commit:
                    tp.commit_transaction(20)
                else:
                    tp.abort_transaction(20)
                done += len(msgs)
        finally:
            c.close()
        return done

    assert run(10, commit=False) >= 10  # offsets of an aborted transaction are not committed
    c = Consumer({"bootstrap.servers": txn_broker.bootstrap, "group.id": group})
    try:
        assert all(tp.offset < 0 for tp in c.committed([TopicPartition(source, 0), TopicPartition(source, 1)], 10))
    finally:
        c.close()
    assert run(40, commit=True) == 40
    c = Consumer({"bootstrap.servers": txn_broker.bootstrap, "group.id": group})
    try:
        committed = c.committed([TopicPartition(source, 0), TopicPartition(source, 1)], 10)
    finally:
        c.close()
    assert [tp.offset for tp in committed] == [20, 20]
    out = read_values(txn_broker.bootstrap, [(sink, 0)], "read_committed")
    assert sorted(out, key=int) == [b"%d" % i for i in range(40)]


def test_open_transaction_is_aborted_at_its_timeout(txn_broker: BrokerProcess) -> None:
    topic = unique("txn-timeout")
    create_topics(txn_broker.bootstrap, (topic, 1))
    stuck = Producer({"bootstrap.servers": txn_broker.bootstrap, "transactional.id": unique("stuck"),
                      "transaction.timeout.ms": 1500})
    stuck.init_transactions(20)
    stuck.begin_transaction()
    stuck.produce(topic, b"never-committed", partition=0)
    stuck.flush(20)
    plain = Producer({"bootstrap.servers": txn_broker.bootstrap})
    plain.produce(topic, b"after", partition=0)
    _delivered(plain)

    def lso() -> int:
        with RawClient(txn_broker.bootstrap) as c:
            resp = c.request(2, 5, {"replica_id": -1, "isolation_level": 1, "topics": [
                {"name": topic, "partitions": [{"partition_index": 0, "current_leader_epoch": -1,
                                                "timestamp": -1}]}]})
        return resp["topics"][0]["partitions"][0]["offset"]

    assert lso() == 0  # the open transaction holds read_committed consumers back
    wait_until(lambda: lso() == 3, 15, what="the broker to abort the expired transaction")  # data, data, marker
    assert read_values(txn_broker.bootstrap, [(topic, 0)], "read_committed") == [b"after"]
    with pytest.raises(KafkaException):
        stuck.commit_transaction(10)  # the producer was fenced by the abort


def test_second_producer_with_the_same_id_fences_the_first(txn_broker: BrokerProcess) -> None:
    topic, txn_id = unique("fence"), unique("fence-tx")
    create_topics(txn_broker.bootstrap, (topic, 1))
    first = Producer({"bootstrap.servers": txn_broker.bootstrap, "transactional.id": txn_id})
    first.init_transactions(20)
    first.begin_transaction()
    first.produce(topic, b"zombie", partition=0)
    first.flush(20)
    second = Producer({"bootstrap.servers": txn_broker.bootstrap, "transactional.id": txn_id})
    second.init_transactions(20)  # aborts the first one's transaction
    second.begin_transaction()
    second.produce(topic, b"fresh", partition=0)
    second.commit_transaction(20)
    with pytest.raises(KafkaException) as exc:
        first.commit_transaction(10)
    assert exc.value.args[0].fatal() or not exc.value.args[0].retriable()
    assert read_values(txn_broker.bootstrap, [(topic, 0)], "read_committed") == [b"fresh"]
