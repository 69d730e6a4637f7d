"""Produce N messages of S bytes to one partition and consume them back with confluent-kafka.

Prints start-up time to ready, idle RSS, messages/s and MB/s for each phase, and the broker's CPU seconds for
each phase. Usage: python bench/produce_consume.py [--count 1000000] [--size 100] [--in-memory] [--no-timestamps]

--no-timestamps produces every message with timestamp -1: librdkafka then sends batches whose header the broker
cannot trust (maxTimestamp 0 over records without timestamps), so the broker decodes their records to store
the right maxTimestamp (kbroker.partition); the default run measures the batch-level path.

The pieces (`produce_bulk`, `consume_bulk`, `cpu_seconds`, `rss_mib`) are shared with bench/compare.py, which
runs them against kbroker and a reference broker side by side.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Phase:
    """One timed phase: how many messages, how long, and the broker's CPU seconds meanwhile."""

    count: int
    seconds: float
    cpu: float
    size: int

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    @property
    def mb(self) -> float:
        return self.count * self.size / 1e6

    def line(self, what: str) -> str:
        return (f"{what}: {self.rate:,.0f} msg/s, {self.mb / self.seconds:.1f} MB/s, {self.seconds:.2f} s, "
                f"broker CPU {self.cpu:.2f} s ({self.count} messages)")


def create_topic(bootstrap: str, name: str, partitions: int = 1) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(30)


def produce_bulk(bootstrap: str, pid: int, topic: str, count: int, size: int, acks: str = "1",
                 timestamp: int = 0) -> Phase:
    """`count` messages of `size` bytes to partition 0 as fast as the client batches them (timestamp 0: the
    client stamps the current time; -1: none)."""
    payload = os.urandom(size // 2 + 1).hex().encode()[:size]
    producer = Producer({"bootstrap.servers": bootstrap, "acks": acks, "linger.ms": 5,
                         "batch.size": 1_000_000, "queue.buffering.max.messages": 1_000_000})
    producer.list_topics(topic, timeout=30)  # connected and metadata known before the clock starts
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    for _ in range(count):
        while True:
            try:
                producer.produce(topic, payload, partition=0, timestamp=timestamp)
                break
            except BufferError:
                producer.poll(0.01)
    if producer.flush(600) != 0:
        raise RuntimeError("produce: messages left undelivered")
    return Phase(count, time.perf_counter() - t0, cpu_seconds(pid) - cpu0, size)


def consume_bulk(bootstrap: str, pid: int, topic: str, count: int, size: int) -> Phase:
    """Read partition 0 from offset 0 until `count` messages have arrived."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-" + topic,
                         "enable.partition.eof": True, "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = 0
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    deadline = t0 + 600
    while got < count and time.perf_counter() < deadline:
        for m in consumer.consume(10000, timeout=1.0):
            if not m.error():
                got += 1
            elif m.error().code() != KafkaError._PARTITION_EOF:
                raise RuntimeError(m.error())
    phase = Phase(got, time.perf_counter() - t0, cpu_seconds(pid) - cpu0, size)
    consumer.close()
    return phase


def main() -> None:
    from tests.conftest import BrokerProcess

    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--in-memory", action="store_true")
    ap.add_argument("--no-timestamps", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        broker = BrokerProcess(None if args.in_memory else Path(tmp) / "data").start()
        ready = time.perf_counter() - t0
        assert broker.proc is not None
        pid = broker.proc.pid
        time.sleep(0.5)
        print(f"start-up to ready: {ready * 1000:.0f} ms (process spawn included); idle RSS: {rss_mib(pid):.1f} MiB")
        try:
            create_topic(broker.bootstrap, "bench")
            print(produce_bulk(broker.bootstrap, pid, "bench", args.count, args.size,
                                timestamp=-1 if args.no_timestamps else 0).line("produce"))
            print(consume_bulk(broker.bootstrap, pid, "bench", args.count, args.size).line("consume"))
            print(f"RSS after: {rss_mib(pid):.1f} MiB")
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
