"""kafka-python and aiokafka idempotent and transactional producers, and their read_committed consumers."""
from __future__ import annotations

import asyncio
import time

import pytest

from tests.conftest import BrokerProcess

from .conftest import create_topics, read_values, unique

pytestmark = pytest.mark.timeout(90)


# -- kafka-python ---------------------------------------------------------------------------------------------


def test_kafka_python_idempotent_and_transactional(txn_broker: BrokerProcess) -> None:
    pytest.importorskip("kafka")
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    topic = unique("kp-txn")
    create_topics(txn_broker.bootstrap, (topic, 2))
    idem = KafkaProducer(bootstrap_servers=txn_broker.bootstrap, enable_idempotence=True, acks="all")
    for i in range(20):
        idem.send(topic, b"idem-%d" % i, partition=i % 2)
    idem.flush(20)
    idem.close(10)

    p = KafkaProducer(bootstrap_servers=txn_broker.bootstrap, transactional_id=unique("kp-tx"))
    p.init_transactions()
    p.begin_transaction()
    for i in range(4):
        p.send(topic, b"commit-%d" % i, partition=i % 2)
    p.commit_transaction()
    p.begin_transaction()
    for i in range(4):
        p.send(topic, b"abort-%d" % i, partition=i % 2)
    p.flush(20)
    p.abort_transaction()
    p.close(10)

    def consume(isolation: str) -> list[bytes]:
        c = KafkaConsumer(bootstrap_servers=txn_broker.bootstrap, isolation_level=isolation,
                          enable_auto_commit=False, auto_offset_reset="earliest", consumer_timeout_ms=3000)
        c.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
        c.seek_to_beginning()
        out = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            batch = c.poll(timeout_ms=500)
            if not batch and len(out) >= 24:
                break
            for records in batch.values():
                out += [r.value for r in records]
        c.close()
        return out

    committed = consume("read_committed")
    assert sorted(committed) == sorted([b"idem-%d" % i for i in range(20)] + [b"commit-%d" % i for i in range(4)])
    assert len(consume("read_uncommitted")) == 28


def test_kafka_python_consume_transform_produce(txn_broker: BrokerProcess) -> None:
    pytest.importorskip("kafka")
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    source, sink, group = unique("kp-in"), unique("kp-out"), unique("kp-group")
    create_topics(txn_broker.bootstrap, (source, 1), (sink, 1))
    plain = KafkaProducer(bootstrap_servers=txn_broker.bootstrap)
    for i in range(10):
        plain.send(source, b"%d" % i, partition=0)
    plain.flush(20)
    plain.close(10)

    c = KafkaConsumer(bootstrap_servers=txn_broker.bootstrap, group_id=group, enable_auto_commit=False,
                      auto_offset_reset="earliest", isolation_level="read_committed")
    c.assign([TopicPartition(source, 0)])
    p = KafkaProducer(bootstrap_servers=txn_broker.bootstrap, transactional_id=group + "-tx")
    p.init_transactions()
    seen = 0
    deadline = time.monotonic() + 30
    while seen < 10 and time.monotonic() < deadline:
        batch = c.poll(timeout_ms=500)
        records = [r for rs in batch.values() for r in rs]
        if not records:
            continue
        p.begin_transaction()
        for r in records:
            p.send(sink, r.value + b"!", partition=0)
        p.send_offsets_to_transaction({TopicPartition(source, 0): OffsetAndMetadata(records[-1].offset + 1, "", -1)},
                                      c.group_metadata())
        p.commit_transaction()
        seen += len(records)
    c.close()
    p.close(10)
    assert seen == 10
    check = KafkaConsumer(bootstrap_servers=txn_broker.bootstrap, group_id=group, enable_auto_commit=False)
    try:
        assert check.committed(TopicPartition(source, 0)) == 10
    finally:
        check.close()
    assert sorted(read_values(txn_broker.bootstrap, [(sink, 0)], "read_committed")) == \
        sorted(b"%d!" % i for i in range(10))


# -- aiokafka -------------------------------------------------------------------------------------------------


def test_aiokafka_idempotent_and_transactional(txn_broker: BrokerProcess) -> None:
    pytest.importorskip("aiokafka")
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.structs import TopicPartition

    topic, sink, group = unique("aio-txn"), unique("aio-out"), unique("aio-group")
    create_topics(txn_broker.bootstrap, (topic, 2), (sink, 1))

    async def main() -> tuple[list[bytes], list[bytes], int]:
        idem = AIOKafkaProducer(bootstrap_servers=txn_broker.bootstrap, enable_idempotence=True)
        await idem.start()
        try:
            for i in range(20):
                await idem.send_and_wait(topic, b"idem-%d" % i, partition=i % 2)
        finally:
            await idem.stop()

        p = AIOKafkaProducer(bootstrap_servers=txn_broker.bootstrap, transactional_id=unique("aio-tx"))
        await p.start()
        try:
            async with p.transaction():
                for i in range(4):
                    await p.send(topic, b"commit-%d" % i, partition=i % 2)
            await p.begin_transaction()
            for i in range(4):
                await p.send(topic, b"abort-%d" % i, partition=i % 2)
            await p.abort_transaction()
        finally:
            await p.stop()

        async def consume(isolation: str, want: int) -> list[bytes]:
            c = AIOKafkaConsumer(bootstrap_servers=txn_broker.bootstrap, isolation_level=isolation,
                                 enable_auto_commit=False, auto_offset_reset="earliest")
            await c.start()
            try:
                c.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
                out: list[bytes] = []
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    batch = await c.getmany(timeout_ms=300)
                    for records in batch.values():
                        out += [r.value for r in records]
                    if len(out) >= want and not batch:
                        break
                return out
            finally:
                await c.stop()

        committed = await consume("read_committed", 24)
        everything = await consume("read_uncommitted", 28)

        # consume-transform-produce with the group's offsets in the transaction
        c = AIOKafkaConsumer(bootstrap_servers=txn_broker.bootstrap, group_id=group, enable_auto_commit=False,
                             auto_offset_reset="earliest", isolation_level="read_committed")
        tx = AIOKafkaProducer(bootstrap_servers=txn_broker.bootstrap, transactional_id=group + "-tx")
        await c.start()
        await tx.start()
        moved = 0
        try:
            c.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
            deadline = time.monotonic() + 20
            while moved < 24 and time.monotonic() < deadline:
                batch = await c.getmany(timeout_ms=300)
                if not batch:
                    continue
                async with tx.transaction():
                    offsets = {}
                    for tp, records in batch.items():
                        for r in records:
                            await tx.send(sink, r.value, partition=0)
                        offsets[tp] = records[-1].offset + 1
                        moved += len(records)
                    await tx.send_offsets_to_transaction(offsets, group)
            committed_offsets = [await c.committed(TopicPartition(topic, i)) for i in range(2)]
        finally:
            await tx.stop()
            await c.stop()
        assert moved == 24
        return committed, everything, sum(o or 0 for o in committed_offsets)

    committed, everything, total_offsets = asyncio.run(asyncio.wait_for(main(), 60))
    assert sorted(committed) == sorted([b"idem-%d" % i for i in range(20)] + [b"commit-%d" % i for i in range(4)])
    assert len(everything) == 28
    # each partition: 10 idempotent and 2 committed records, then the marker: the next offset is 12
    assert total_offsets == 24
    assert len(read_values(txn_broker.bootstrap, [(sink, 0)], "read_committed")) == 24
