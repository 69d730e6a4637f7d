"""Fixtures for the idempotence and transaction tests: a broker whose transaction timeouts are checked often,
topic creation, and reading a partition to its end under either isolation level (every wait bounded)."""
from __future__ import annotations

import time

from tests.conftest import module_broker
from tests.helpers import create_topics, unique, wait_until  # noqa: F401 (re-exported to the tests)

FAST_TXN = ("--set", "transaction.abort.timed.out.transaction.cleanup.interval.ms=200",
            "--set", "group.initial.rebalance.delay.ms=0")


txn_broker = module_broker("txn", *FAST_TXN)


def read_values(bootstrap: str, partitions: list[tuple[str, int]], isolation: str, timeout: float = 20.0) -> list[bytes]:
    """Every message a confluent-kafka consumer delivers from the start to the end (EOF) of each partition."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("reader"), "enable.auto.commit": False,
                  "enable.partition.eof": True, "isolation.level": isolation})
    c.assign([TopicPartition(t, p, 0) for t, p in partitions])
    out: list[bytes] = []
    eof: set[tuple[str, int]] = set()
    deadline = time.monotonic() + timeout
    try:
        while len(eof) < len(partitions) and time.monotonic() < deadline:
            for m in c.consume(500, timeout=0.2):
                if m.error():
                    assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
                    eof.add((m.topic(), m.partition()))
                else:
                    out.append(m.value())
    finally:
        c.close()
    assert len(eof) == len(partitions), f"did not reach the end of {set(partitions) - eof}"
    return out

