"""Time a consumer-group rebalance: N confluent-kafka consumers join one group on a P-partition topic; the clock
runs from the first subscribe until every consumer owns its share and no partition is owned twice.

Usage: python bench/rebalance.py [--consumers 10] [--partitions 30] [--rounds 3]
Prints the time for each protocol (classic range, classic cooperative-sticky, KIP-848 consumer protocol).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from confluent_kafka import Consumer  # noqa: E402

from kbroker.testing import BrokerProcess  # noqa: E402
from tests.helpers import create_topics  # noqa: E402

PROTOCOLS = {
    "classic range": {"partition.assignment.strategy": "range"},
    "classic cooperative-sticky": {"partition.assignment.strategy": "cooperative-sticky"},
    "consumer (KIP-848)": {"group.protocol": "consumer"},
}


def one_round(bootstrap: str, topic: str, consumers: int, partitions: int, extra: dict) -> float:
    group = f"bench-{uuid.uuid4().hex[:8]}"
    conf = {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False, **extra}
    if "group.protocol" not in extra:
        conf["session.timeout.ms"] = 10000
    cs = [Consumer(dict(conf)) for _ in range(consumers)]
    start = time.perf_counter()
    for c in cs:
        c.subscribe([topic])
    deadline = start + 120
    try:
        while time.perf_counter() < deadline:
            for c in cs:
                c.poll(0.005)
            owned = [len(c.assignment()) for c in cs]
            if sum(owned) == partitions and min(owned) >= partitions // consumers:
                return time.perf_counter() - start
        raise RuntimeError(f"not all assigned after 120 s: {[len(c.assignment()) for c in cs]}")
    finally:
        for c in cs:
            c.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--consumers", type=int, default=10)
    ap.add_argument("--partitions", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    broker = BrokerProcess(None).start()
    try:
        topic = "rebalance-bench"
        create_topics(broker.bootstrap, (topic, args.partitions))
        for name, extra in PROTOCOLS.items():
            times = [one_round(broker.bootstrap, topic, args.consumers, args.partitions, extra)
                     for _ in range(args.rounds)]
            print(f"{name:28s} {args.consumers} consumers / {args.partitions} partitions: median "
                  f"{statistics.median(times):.2f} s (rounds: {', '.join(f'{t:.2f}' for t in times)})")
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
