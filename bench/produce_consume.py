"""Produce N messages of S bytes to one partition and consume them back with confluent-kafka.

Prints start-up time to ready, idle RSS, messages/s and MB/s for each phase, and the broker's CPU seconds for
each phase. Usage: python bench/produce_consume.py [--count 1000000] [--size 100] [--in-memory] [--no-timestamps]

--no-timestamps produces every message with timestamp -1: librdkafka then sends batches whose header the broker
cannot trust (maxTimestamp 0 over records without timestamps), so the broker decodes their records to store
the right maxTimestamp (kbroker.partition); the default run measures the batch-level path.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from tests.conftest import BrokerProcess  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
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
            admin = AdminClient({"bootstrap.servers": broker.bootstrap})
            admin.create_topics([NewTopic("bench", 1, 1)])["bench"].result(30)
            payload = os.urandom(args.size // 2).hex().encode()[: args.size]
            producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "1", "linger.ms": 5,
                                 "batch.size": 1_000_000, "queue.buffering.max.messages": 1_000_000})
            timestamp = -1 if args.no_timestamps else 0  # 0: librdkafka stamps the current time
            cpu0, t0 = cpu_seconds(pid), time.perf_counter()
            for _ in range(args.count):
                while True:
                    try:
                        producer.produce("bench", payload, partition=0, timestamp=timestamp)
                        break
                    except BufferError:
                        producer.poll(0.01)
            assert producer.flush(600) == 0
            dt, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
            mb = args.count * args.size / 1e6
            print(f"produce: {args.count / dt:,.0f} msg/s, {mb / dt:.1f} MB/s, {dt:.2f} s, broker CPU {cpu:.2f} s")

            consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "bench",
                                 "enable.partition.eof": True, "enable.auto.commit": False})
            consumer.assign([TopicPartition("bench", 0, 0)])
            got = 0
            cpu0, t0 = cpu_seconds(pid), time.perf_counter()
            deadline = t0 + 600
            while got < args.count and time.perf_counter() < deadline:
                for m in consumer.consume(10000, timeout=1.0):
                    if not m.error():
                        got += 1
                    elif m.error().code() != KafkaError._PARTITION_EOF:
                        raise RuntimeError(m.error())
            dt, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
            consumer.close()
            print(f"consume: {got / dt:,.0f} msg/s, {mb / dt:.1f} MB/s, {dt:.2f} s, broker CPU {cpu:.2f} s"
                  f" ({got} messages)")
            print(f"RSS after: {rss_mib(pid):.1f} MiB")
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
