"""Issue 10's first done-means, as a new user would try it: three `kbroker serve` processes on ZooKeeper, a topic
with replication factor 3 and min.insync.replicas=2, an idempotent acks=all confluent-kafka producer sending all the
time and a consumer group reading all the time, while a random broker (the partition's leader, a follower, or the
controller) is SIGKILLed and restarted, 20 times. Afterwards every acknowledged message is in the log exactly once,
at the offset it was acknowledged with and in the order it was sent; the producer never hit a fatal (idempotence)
error; the group carried on after every kill; and the restarted brokers are back in the ISR.

Every wait is bounded; the durations measured (failover, catch-up) are printed, not asserted."""
from __future__ import annotations

import os
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

confluent_kafka = pytest.importorskip("confluent_kafka")
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from kbroker.testing.subprocess_cluster import SubprocessCluster  # noqa: E402

ROUNDS = int(os.environ.get("KBROKER_KILL_ROUNDS", "20"))
SESSION_TIMEOUT_MS = 6000  # Kafka's pre-2.5 default: a killed broker is noticed within seconds
SEND_INTERVAL = 0.004


def _wait(what: str, condition: Callable[[], bool], timeout: float) -> float:
    """Wait until condition() holds; the seconds it took. AssertionError naming `what` after `timeout`."""
    began = time.monotonic()
    while True:
        try:
            if condition():
                return time.monotonic() - began
        except Exception:  # a broker going away under a metadata request: ask again
            pass
        if time.monotonic() - began > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.1)


@dataclass
class ProducerRun:
    """An idempotent acks=all producer sending 'seq' numbers to partition 0 until stopped, on its own thread."""
    bootstrap: str
    topic: str
    acked: list[tuple[int, int]] = field(default_factory=list)  # (seq, offset) in acknowledgement order
    failed: list[tuple[int, str]] = field(default_factory=list)
    fatal: list[str] = field(default_factory=list)
    sent: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        def on_error(err: KafkaError) -> None:
            if err.fatal():
                self.fatal.append(str(err))

        producer = Producer({"bootstrap.servers": self.bootstrap, "enable.idempotence": True, "acks": "all",
                             "linger.ms": 5, "message.timeout.ms": 300000, "retry.backoff.ms": 100,
                             "error_cb": on_error})

        def on_delivery(err: KafkaError | None, msg) -> None:
            seq = int(msg.value())
            if err is None:
                self.acked.append((seq, msg.offset()))
            else:
                self.failed.append((seq, str(err)))

        while not self.stop.is_set() and not self.fatal:
            try:
                producer.produce(self.topic, value=b"%09d" % self.sent, partition=0, on_delivery=on_delivery)
                self.sent += 1
            except BufferError:
                producer.poll(0.1)
                continue
            producer.poll(0)
            time.sleep(SEND_INTERVAL)
        remaining = producer.flush(240)
        if remaining:
            self.failed.append((-1, f"{remaining} messages still unacknowledged after flush"))


@dataclass
class GroupConsumerRun:
    """A consumer in a group reading the topic all the time: the highest seq it has seen."""
    bootstrap: str
    topic: str
    group: str
    highest: int = -1
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.group,
                             "auto.offset.reset": "earliest", "enable.auto.commit": True})
        consumer.subscribe([self.topic])
        try:
            while not self.stop.is_set():
                msg = consumer.poll(0.5)
                if msg is not None and msg.error() is None:
                    self.highest = max(self.highest, int(msg.value()))
        finally:
            consumer.close()


def _save_logs(cluster: SubprocessCluster, node_id: int, log_dir: Path) -> Path:
    """Append what broker `node_id` printed so far to LOG_DIR/broker-N.log (its output starts anew on restart)."""
    path = log_dir / f"broker-{node_id}.log"
    broker = cluster.brokers.get(node_id)
    if broker is not None:
        lines = list(broker.output)
        with open(path, "a") as f:
            f.writelines(lines)
            f.write(f"---- end of an incarnation of broker {node_id} ({len(lines)} lines) ----\n")
        broker.output.clear()
    return path


def _print_log_tails(cluster: SubprocessCluster, log_dir: Path, lines: int = 60) -> None:
    for node_id in cluster.node_ids:
        path = _save_logs(cluster, node_id, log_dir)
        tail = path.read_text().splitlines()[-lines:] if path.exists() else []
        print(f"\n==== broker {node_id}: last {len(tail)} lines of {path} ====\n" + "\n".join(tail))


def _print_cluster_state(cluster: SubprocessCluster, topic: str) -> None:
    """What each broker's Metadata says and what ZooKeeper holds, for a failure's diagnosis."""
    from kazoo.client import KazooClient

    from kbroker.testing.client import WireClient

    for node_id in cluster.node_ids:
        try:
            with WireClient(f"127.0.0.1:{cluster.ports[node_id]}", timeout=5) as client:
                md = client.request(3, 12, {"topics": [{"name": topic, "topic_id": bytes(16)}],
                                            "allow_auto_topic_creation": False,
                                            "include_topic_authorized_operations": False})
            parts = [(p["partition_index"], p["leader_id"], p["leader_epoch"], p["isr_nodes"])
                     for t in md["topics"] for p in t["partitions"]]
            print(f"broker {node_id} Metadata: controller {md['controller_id']}, brokers "
                  f"{sorted(b['node_id'] for b in md['brokers'])}, {topic} (index, leader, epoch, isr) {parts}")
        except Exception as e:
            print(f"broker {node_id} Metadata: {e!r}")
    zk = KazooClient(hosts=cluster.connect_string, timeout=10)
    try:
        zk.start(10)
        for path in ("/controller", "/controller_epoch", f"/brokers/topics/{topic}/partitions/0/state"):
            data, stat = zk.get(path) if zk.exists(path) else (b"(absent)", None)
            print(f"zk {path}: {data!r} version {stat.version if stat else None} owner "
                  f"{hex(stat.ephemeralOwner) if stat else None}")
        for name in zk.get_children("/brokers/ids"):
            data, stat = zk.get(f"/brokers/ids/{name}")
            print(f"zk /brokers/ids/{name}: czxid {stat.czxid} owner {hex(stat.ephemeralOwner)}")
    except Exception as e:
        print(f"zk: {e!r}")
    finally:
        zk.stop()
        zk.close()


def _partition_state(admin: AdminClient, topic: str) -> tuple[int, int, set[int]]:
    """(controller id, leader, ISR) of partition 0, as the cluster's Metadata tells it."""
    md = admin.list_topics(topic, timeout=10)
    part = md.topics[topic].partitions[0]
    return md.controller_id, part.leader, set(part.isrs)


def _read_partition(bootstrap: str, topic: str, timeout: float = 120.0) -> list[tuple[int, int]]:
    """Every (offset, seq) of partition 0 up to its high watermark."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"verify-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        tp = TopicPartition(topic, 0)
        low, high = consumer.get_watermark_offsets(tp, timeout=30)
        consumer.assign([TopicPartition(topic, 0, low)])
        records: list[tuple[int, int]] = []
        deadline = time.monotonic() + timeout
        while (not records or records[-1][0] < high - 1) and high > low:
            assert time.monotonic() < deadline, f"read {len(records)} records of {low}..{high} within {timeout} s"
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None:
                records.append((msg.offset(), int(msg.value())))
        return records
    finally:
        consumer.close()


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_sigkill_a_random_broker_twenty_times_under_an_idempotent_producer(zookeeper_server, tmp_path: Path) -> None:
    seed = int(os.environ.get("KBROKER_KILL_SEED", str(random.randrange(1 << 30))))
    rng = random.Random(seed)
    print(f"\nseed {seed} (KBROKER_KILL_SEED={seed} repeats the victims)")
    config = {"min.insync.replicas": 2, "default.replication.factor": 3, "offsets.topic.replication.factor": 3,
              "transaction.state.log.replication.factor": 3, "zookeeper.session.timeout.ms": SESSION_TIMEOUT_MS}
    cluster = SubprocessCluster(3, data_dir=tmp_path,
                                connect_string=zookeeper_server.connect_string_for(f"kill-{uuid.uuid4().hex[:8]}"),
                                config=config)
    with cluster:
        # without cluster mode each broker is a cluster of one, and this says so
        cluster.wait_formed(timeout=60)
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        topic = f"kills-{uuid.uuid4().hex[:8]}"
        futures = admin.create_topics([NewTopic(topic, 1, 3, config={"min.insync.replicas": "2"})])
        futures[topic].result(60)
        _wait("the new topic has a leader and a full ISR",
              lambda: _partition_state(admin, topic)[2] == {1, 2, 3}, 60)

        producer = ProducerRun(cluster.bootstrap, topic)
        group = GroupConsumerRun(cluster.bootstrap, topic, f"group-{uuid.uuid4().hex[:8]}")
        threads = [threading.Thread(target=producer.run, daemon=True),
                   threading.Thread(target=group.run, daemon=True)]
        for t in threads:
            t.start()
        _wait("the producer's first acknowledgements", lambda: len(producer.acked) > 50, 60)
        _wait("the group's first records", lambda: group.highest >= 0, 60)

        timings: list[str] = []
        try:
            for round_no in range(1, ROUNDS + 1):
                state: list[tuple[int, int, set[int]]] = []

                def known() -> bool:
                    state.append(_partition_state(admin, topic))
                    return {state[-1][0], state[-1][1]} <= {1, 2, 3}

                try:
                    _wait(f"round {round_no}: a known controller and leader", known, 60)
                except AssertionError as e:
                    raise AssertionError(f"{e}; last seen (controller, leader, isr) {state[-1:]}") from None
                controller, leader, isr = state[-1]
                role = rng.choice(["leader", "follower", "controller"])
                victim = {"leader": leader, "controller": controller,
                          "follower": rng.choice(sorted(isr - {leader}) or [leader])}[role]
                acked_before, sent_before = len(producer.acked), producer.sent
                cluster.kill(victim)
                producer_back = _wait(f"round {round_no}: acks=all acknowledgements after SIGKILL of broker "
                                      f"{victim} ({role})", lambda: len(producer.acked) > acked_before + 20, 120)
                group_back = _wait(f"round {round_no}: the group reading records sent after the kill",
                                   lambda: group.highest >= sent_before, 120)
                _save_logs(cluster, victim, tmp_path)
                cluster.start(victim)
                rejoined = _wait(f"round {round_no}: broker {victim} back in the ISR",
                                 lambda: _partition_state(admin, topic)[2] == {1, 2, 3}, 180)
                timings.append(f"round {round_no:2d}: killed {victim} ({role:10s}) producer back {producer_back:5.1f} s,"
                               f" group back {group_back:5.1f} s, ISR full again {rejoined:5.1f} s after restart")
                print(timings[-1])
                assert not producer.fatal, producer.fatal
        except BaseException:
            _print_cluster_state(cluster, topic)
            _print_log_tails(cluster, tmp_path)
            raise
        finally:
            producer.stop.set()
            group.stop.set()
            for t in threads:
                t.join(300)

        assert not producer.fatal, f"the idempotent producer failed fatally: {producer.fatal}"
        assert producer.acked, "nothing was acknowledged"
        _wait("every broker in the ISR at the end", lambda: _partition_state(admin, topic)[2] == {1, 2, 3}, 180)

        records = _read_partition(cluster.bootstrap, topic)
        at_offset = dict(records)
        seqs = [seq for _, seq in records]
        duplicates = len(seqs) - len(set(seqs))
        assert duplicates == 0, f"{duplicates} records appear more than once in the log"
        missing = [(seq, off) for seq, off in producer.acked if at_offset.get(off) != seq]
        assert not missing, f"{len(missing)} acknowledged messages are not at their offset, e.g. {missing[:5]}"
        acked_offsets = [off for _, off in sorted(producer.acked)]
        assert acked_offsets == sorted(acked_offsets), "acknowledged messages are not in the order they were sent"
        print(f"{len(producer.acked)} acknowledged, {len(producer.failed)} failed "
              f"({producer.failed[:3]}), {len(records)} records in the log")
