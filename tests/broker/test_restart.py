"""Durability: clean restarts keep everything; kill -9 mid-produce loses nothing that was acknowledged."""
from __future__ import annotations

import threading
import time

import pytest

from tests.conftest import BrokerProcess

confluent_kafka = pytest.importorskip("confluent_kafka")
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402


def _read_all(bootstrap: str, topic: str, partitions: int, timeout: float = 60) -> list:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False,
                  "enable.partition.eof": True})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out, eof = [], set()
    deadline = time.monotonic() + timeout
    try:
        while len(eof) < partitions and time.monotonic() < deadline:
            for m in c.consume(1000, timeout=0.5):
                if m.error():
                    assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
                    eof.add(m.partition())
                else:
                    out.append(m)
    finally:
        c.close()
    assert len(eof) == partitions, "did not reach the end of every partition"
    return out


def test_clean_restart_keeps_topics_and_offsets(tmp_path) -> None:
    data = tmp_path / "data"
    b = BrokerProcess(data).start()
    try:
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all"})
        for i in range(1000):
            p.produce("restart-a", value=b"a%d" % i, partition=0)
            p.produce("restart-b", key=b"%d" % i, value=b"b%d" % i)
        assert p.flush(60) == 0
    finally:
        b.stop()

    b = BrokerProcess(data).start()
    try:
        msgs = _read_all(b.bootstrap, "restart-a", 1)
        assert [m.value() for m in msgs] == [b"a%d" % i for i in range(1000)]
        assert len(_read_all(b.bootstrap, "restart-b", 1)) == 1000
        offsets = []
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all"})
        p.produce("restart-a", value=b"after", partition=0, on_delivery=lambda e, m: offsets.append(m.offset()))
        assert p.flush(60) == 0
        assert offsets == [1000]
    finally:
        b.stop()


def test_kill_minus_nine_keeps_acknowledged(tmp_path) -> None:
    data = tmp_path / "data"
    b = BrokerProcess(data).start()
    acked: list[tuple[int, int, bytes]] = []
    stop = threading.Event()

    def produce() -> None:
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 2,
                      "message.timeout.ms": 5000, "reconnect.backoff.max.ms": 100})

        def report(err, msg) -> None:  # type: ignore[no-untyped-def]
            if err is None:
                acked.append((msg.partition(), msg.offset(), msg.value()))

        i = 0
        while not stop.is_set():
            try:
                p.produce("crashy", value=b"m%07d" % i, partition=i % 2, on_delivery=report)
                i += 1
            except BufferError:
                pass
            p.poll(0.001 if i % 100 == 0 else 0)
        p.flush(10)

    from confluent_kafka.admin import AdminClient, NewTopic
    t = threading.Thread(target=produce)
    try:
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        admin.create_topics([NewTopic("crashy", 2, 1)])["crashy"].result(30)
        t.start()
        deadline = time.monotonic() + 60
        while len(acked) < 20000 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        b.kill()  # SIGKILL while the producer is still sending
        time.sleep(0.5)
        stop.set()
        if t.is_alive():
            t.join(30)
    assert len(acked) >= 20000

    b = BrokerProcess(data).start()
    try:
        stored = {(m.partition(), m.offset()): m.value() for m in _read_all(b.bootstrap, "crashy", 2)}
        missing = [a for a in acked if stored.get((a[0], a[1])) != a[2]]
        assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {missing[:3]}"
        # and the log takes new writes after its old end
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all"})
        p.produce("crashy", value=b"after", partition=0)
        assert p.flush(30) == 0
    finally:
        b.stop()
