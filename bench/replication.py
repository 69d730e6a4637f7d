"""acks=all produce throughput and latency with replication factor 3 against replication factor 1.

Runs `kbroker cluster --brokers 3` (three brokers in one subprocess, in memory) and a confluent-kafka producer in
this process: first a throughput run (N messages, pipelined), then a latency run (one message at a time, each
waiting for its acknowledgement), on a topic with replication factor 1 and on one with 3 (min.insync.replicas 2).

    python bench/replication.py [--messages 200000] [--size 100] [--latency-messages 500]
"""
from __future__ import annotations

import argparse
import re
import signal
import statistics
import subprocess
import sys
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

READY = re.compile(r"kbroker cluster ready: \d+ brokers, bootstrap (\S+),")


def start() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "kbroker", "cluster", "--brokers", "3", "--listen",
                             "127.0.0.1:0", "--in-memory", "--log-level", "WARNING"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        match = READY.search(line)
        if match:
            return proc, match.group(1)
    raise SystemExit("the cluster did not start")


def throughput(bootstrap: str, topic: str, count: int, size: int) -> float:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                         "batch.size": 1 << 20, "queue.buffering.max.messages": 1_000_000})
    payload = b"x" * size
    began = time.perf_counter()
    for _ in range(count):
        while True:
            try:
                producer.produce(topic, payload, partition=0)
                break
            except BufferError:
                producer.poll(0.01)
    assert producer.flush(120) == 0
    return count / (time.perf_counter() - began)


def latencies(bootstrap: str, topic: str, count: int, size: int) -> list[float]:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
    payload = b"x" * size
    out = []
    for _ in range(count):
        began = time.perf_counter()
        producer.produce(topic, payload, partition=0)
        producer.flush(30)
        out.append((time.perf_counter() - began) * 1000)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--messages", type=int, default=200_000)
    p.add_argument("--size", type=int, default=100)
    p.add_argument("--latency-messages", type=int, default=500)
    args = p.parse_args()
    proc, bootstrap = start()
    try:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        for topic, rf in (("rf1", 1), ("rf3", 3)):
            config = {"min.insync.replicas": "2"} if rf == 3 else {}
            admin.create_topics([NewTopic(topic, 1, rf, config=config)])[topic].result(30)
        time.sleep(1)
        for topic in ("rf1", "rf3"):
            rate = throughput(bootstrap, topic, args.messages, args.size)
            lat = sorted(latencies(bootstrap, topic, args.latency_messages, args.size))
            p50, p99 = statistics.median(lat), lat[int(len(lat) * 0.99) - 1]
            print(f"{topic}: acks=all {rate:,.0f} msg/s ({rate * args.size / 1e6:.1f} MB/s), "
                  f"one-at-a-time latency p50 {p50:.2f} ms, p99 {p99:.2f} ms", flush=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


if __name__ == "__main__":
    main()
