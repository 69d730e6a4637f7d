"""kafka-python KafkaConsumer and aiokafka AIOKafkaConsumer in groups: consume, commit, rebalance."""
from __future__ import annotations

import asyncio
import time

import pytest

from tests.groups.conftest import create_topic, unique, wait_until

kafka = pytest.importorskip("kafka")
aiokafka = pytest.importorskip("aiokafka")
from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402

PARTITIONS = 4


def produce(bootstrap: str, topic: str, count: int) -> set[bytes]:
    p = KafkaProducer(bootstrap_servers=bootstrap)
    values = set()
    for i in range(count):
        v = b"v-%d" % i
        p.send(topic, value=v, partition=i % PARTITIONS)
        values.add(v)
    p.flush(30)
    p.close()
    return values


def test_kafka_python_group_consume_commit_rebalance(shared_broker) -> None:
    topic, group = unique("t"), unique("g")
    create_topic(shared_broker.bootstrap, topic, PARTITIONS)
    values = produce(shared_broker.bootstrap, topic, 400)

    def make() -> KafkaConsumer:
        c = KafkaConsumer(bootstrap_servers=shared_broker.bootstrap, group_id=group, auto_offset_reset="earliest",
                          enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=500,
                          max_poll_records=20)
        c.subscribe([topic])
        return c

    seen: list[bytes] = []

    def drain(c: KafkaConsumer) -> None:
        batch = c.poll(timeout_ms=100)
        for records in batch.values():
            seen.extend(r.value for r in records)
        if batch:
            c.commit()

    a = make()
    b = None
    try:
        wait_until(lambda: (drain(a), len(a.assignment()) == PARTITIONS)[1], 30, step=0, what="a owning all")
        b = make()
        wait_until(lambda: (drain(a), drain(b), len(a.assignment()) == len(b.assignment()) == 2)[2], 30, step=0,
                   what="a 2/2 split")
        assert {tp.partition for tp in a.assignment()} | {tp.partition for tp in b.assignment()} == set(range(PARTITIONS))
        b.close()
        b = None
        wait_until(lambda: (drain(a), len(a.assignment()) == PARTITIONS)[1], 30, step=0, what="a owning all again")
        wait_until(lambda: (drain(a), set(seen) >= values)[1], 30, step=0, what="every message")
        committed = {p: a.committed(TopicPartition(topic, p)) for p in range(PARTITIONS)}
        assert committed == {p: 100 for p in range(PARTITIONS)}
    finally:
        a.close()
        if b is not None:
            b.close()


def test_aiokafka_group_consume_commit_rebalance(shared_broker) -> None:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import TopicPartition as ATP

    topic, group = unique("t"), unique("g")
    create_topic(shared_broker.bootstrap, topic, PARTITIONS)
    values = produce(shared_broker.bootstrap, topic, 400)

    async def main() -> None:
        def make() -> AIOKafkaConsumer:
            return AIOKafkaConsumer(topic, bootstrap_servers=shared_broker.bootstrap, group_id=group,
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    session_timeout_ms=6000, heartbeat_interval_ms=500)

        seen: list[bytes] = []

        async def drain(c: AIOKafkaConsumer) -> None:
            batch = await c.getmany(timeout_ms=100, max_records=50)
            for records in batch.values():
                seen.extend(r.value for r in records)
            if batch:
                await c.commit()

        async def until(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
            deadline = time.monotonic() + timeout
            while not await predicate():
                assert time.monotonic() < deadline, f"timed out waiting for {what}"

        a, b = make(), make()
        await a.start()
        try:
            async def a_all() -> bool:
                await drain(a)
                return len(a.assignment()) == PARTITIONS

            await until(a_all, 30, "a owning all")
            await b.start()

            async def split() -> bool:
                await drain(a)
                await drain(b)
                return len(a.assignment()) == len(b.assignment()) == 2

            await until(split, 30, "a 2/2 split")
            await b.stop()
            await until(a_all, 30, "a owning all again")

            async def everything() -> bool:
                await drain(a)
                return set(seen) >= values

            await until(everything, 30, "every message")
            for p in range(PARTITIONS):
                assert await a.committed(ATP(topic, p)) == 100
        finally:
            await a.stop()
            await b.stop()

    asyncio.run(asyncio.wait_for(main(), 120))
