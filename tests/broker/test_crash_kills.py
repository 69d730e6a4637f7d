"""kill -9 at random moments of a busy broker, many times over one data directory: after every kill the directory
passes `kbroker check-log` (kbroker.log.check) as the crash left it, the broker starts again on it, and at the end
nothing acknowledged is missing.

The workload keeps every path that writes busy at once, so the kills land in the middle of each: an idempotent
producer appending to four topics whose small segments roll every few appends; a topic under size and time
retention (segments deleted all along); a compacted topic the cleaner rewrites every 100 ms; and a transactional
producer committing a transaction after every round (markers, producer snapshots at each roll). The kill comes at
a random time, uniform over the first second after the broker is ready (seeded; CRASH_SEED to replay).

CRASH_KILLS sets the number of kills: 10 in `make test` (about 25 s), 50 with its own target `make crash-test`
(about 75 s on a quiet 2-core machine, 2.5 min on a busy one).
"""
from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from kbroker.log.check import check_directory, format_reports
from tests.conftest import BrokerProcess
from tests.admin.conftest import list_offset
from tests.helpers import create_topics
from tests.rawclient import RawClient

KILLS = int(os.environ.get("CRASH_KILLS", 10))
SEED = int(os.environ.get("CRASH_SEED", time.time_ns() % 2**32))
FLAGS = ("--set", "log.retention.check.interval.ms=100", "--set", "log.cleaner.backoff.ms=100",
         "--set", "transaction.state.log.segment.bytes=4096", "--set", "offsets.topic.segment.bytes=4096")
TOPICS = {
    "durable": {"segment.bytes": "3000", "retention.ms": "-1"},
    "retained": {"segment.bytes": "2000", "retention.bytes": "6000", "retention.ms": "800", "segment.ms": "200"},
    "compacted": {"cleanup.policy": "compact", "segment.bytes": "2000", "min.cleanable.dirty.ratio": "0.01",
                  "segment.ms": "200", "delete.retention.ms": "0"},
    "txn": {"segment.bytes": "3000"},
}


class Workload:
    """Producers for one broker life; acknowledged records are noted in the shared dicts."""

    def __init__(self, bootstrap: str, rng: random.Random, acked: dict[int, bytes], committed: set[bytes],
                 life: int) -> None:
        self.rng = rng
        self.acked = acked
        self.committed = committed
        self.life = life
        common = {"bootstrap.servers": bootstrap, "socket.timeout.ms": 2000, "message.timeout.ms": 3000,
                  "reconnect.backoff.max.ms": 200, "log_level": 0}
        self.producer = Producer({**common, "enable.idempotence": True, "linger.ms": 2})
        self.txn = Producer({**common, "transactional.id": "crash-txn", "transaction.timeout.ms": 5000})

    def _delivered(self, err: object, msg: object) -> None:
        if err is None and msg.topic() == "durable":  # type: ignore[attr-defined]
            self.acked[msg.offset()] = msg.value()  # type: ignore[attr-defined]

    def run(self, alive: threading.Event) -> None:
        rounds = 0
        try:
            self.txn.init_transactions(3)
            while alive.is_set():
                rounds += 1
                for i in range(30):
                    n = self.rng.randrange(1 << 30)
                    self.producer.produce("durable", value=b"d-%d-%d-%d" % (self.life, rounds, i) + b"." * 40,
                                          on_delivery=self._delivered)
                    self.producer.produce("retained", value=b"r%d" % n + b"." * 60)
                    self.producer.produce("compacted", key=b"k%d" % (n % 17), value=b"c%d" % n + b"." * 50)
                self.producer.poll(0)
                values = [b"t-%d-%d-%d" % (self.life, rounds, i) for i in range(5)]
                self.txn.begin_transaction()
                for value in values:
                    self.txn.produce("txn", value=value)
                self.txn.commit_transaction(2)
                self.committed.update(values)
        except KafkaException:
            pass  # the broker was killed under it
        finally:
            self.producer.flush(1)  # deliveries already acknowledged reach _delivered
            self.producer.purge()
            self.txn.purge()


def read_all(bootstrap: str, topic: str, committed: bool) -> dict[int, bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{topic}", "enable.auto.commit": False,
                         "isolation.level": "read_committed" if committed else "read_uncommitted",
                         "enable.partition.eof": True, "log_level": 0})
    consumer.assign([TopicPartition(topic, 0, 0)])
    out: dict[int, bytes] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == -191:  # _PARTITION_EOF
                break
            continue
        out[msg.offset()] = msg.value()
    consumer.close()
    return out


@pytest.mark.slow
def test_kill_minus_nine_at_random_points(tmp_path: Path) -> None:
    data = tmp_path / "data"
    rng = random.Random(SEED)
    acked: dict[int, bytes] = {}
    committed: set[bytes] = set()
    failures: list[str] = []
    runners: list[threading.Thread] = []
    notes = 0  # what the crashes left for recovery to repair (torn tails, leftovers)
    started = time.monotonic()
    for life in range(KILLS):
        broker = BrokerProcess(data, *FLAGS).start()
        if life == 0:
            for name, configs in TOPICS.items():
                create_topics(broker.bootstrap, (name, 1), configs=configs)
        alive = threading.Event()
        alive.set()
        workload = Workload(broker.bootstrap, rng, acked, committed, life)
        runner = threading.Thread(target=workload.run, args=(alive,), daemon=True)
        runner.start()
        time.sleep(rng.uniform(0.05, 1.0))
        broker.kill()  # SIGKILL
        alive.clear()  # the workload gives up within its client timeouts; the next life need not wait for it
        runners.append(runner)
        reports = check_directory(data)
        notes += sum(len(r.notes) for r in reports)
        if any(r.errors for r in reports):
            failures.append(f"after kill {life + 1} (seed {SEED}):\n{format_reports(reports)}")
            break
    elapsed = time.monotonic() - started
    for runner in runners:
        runner.join(30)
        assert not runner.is_alive(), "a workload did not stop after its broker was killed"
    assert not failures, "\n".join(failures)

    broker = BrokerProcess(data, *FLAGS).start()
    try:
        stored = read_all(broker.bootstrap, "durable", committed=False)
        missing = {offset: value for offset, value in acked.items() if stored.get(offset) != value}
        assert not missing, f"{len(missing)} acknowledged records lost or changed, e.g. {sorted(missing.items())[:3]}"
        assert sorted(stored) == list(range(len(stored)))  # contiguous from 0
        txn_values = set(read_all(broker.bootstrap, "txn", committed=True).values())
        assert committed <= txn_values, f"{len(committed - txn_values)} committed transactional records missing"
        # the kills did land among retention deletes and cleaner passes: both left their mark
        with RawClient(broker.bootstrap) as raw:
            assert list_offset(raw, "retained", 0, -2)[1] > 0
        compacted = sorted(read_all(broker.bootstrap, "compacted", committed=False))
        assert compacted and len(compacted) < compacted[-1] + 1  # offsets the cleaner removed
    finally:
        broker.stop()
    assert len(acked) > 0 and len(committed) > 0
    print(f"{KILLS} kills in {elapsed:.0f} s (seed {SEED}), checker notes {notes}; {len(acked)} acknowledged "
          f"records and {len(committed)} committed transactional records all there")
