"""Compat scenarios with aiokafka and its AIOKafkaAdminClient. Run by compat/run.py."""
from __future__ import annotations

import asyncio
import time

import aiokafka
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

from _harness import (addresses, replication_factor, KEYS, PARTITIONS, Failure, check, group_name, main, messages, topic_name,
                      verify_consumed)

CLIENT = "aiokafka"
GROUP_TIMING = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 500}


def sync(coro_fn):
    """A scenario body is a coroutine function; the harness calls scenarios synchronously."""
    def run(bootstrap: str) -> None:
        asyncio.run(coro_fn(bootstrap))
    run.__name__ = coro_fn.__name__
    return run


class Admin:
    def __init__(self, bootstrap: str) -> None:
        self.a = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)

    async def __aenter__(self) -> AIOKafkaAdminClient:
        await self.a.start()
        return self.a

    async def __aexit__(self, *exc) -> None:
        await self.a.close()


async def create(bootstrap: str, topic: str, partitions: int = PARTITIONS) -> None:
    async with Admin(bootstrap) as a:
        resp = await a.create_topics([NewTopic(topic, partitions, replication_factor(bootstrap))], timeout_ms=10000)
        errs = [e for e in resp.topic_errors if e[1] != 0]
        check(not errs, f"create_topics errors {errs}")


async def produce(bootstrap: str, topic: str, items: list[tuple[str, str]] | None = None,
                  **extra) -> dict[str, int]:
    items = messages() if items is None else items
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, **{"acks": "all", "linger_ms": 5, **extra})
    await p.start()
    try:
        futs = [(k, await p.send(topic, key=k.encode(), value=v.encode())) for k, v in items]
        part_of: dict[str, int] = {}
        offsets: dict[int, set[int]] = {}
        for k, f in futs:
            md = await asyncio.wait_for(f, 30)
            check(part_of.setdefault(k, md.partition) == md.partition, f"key {k} delivered to two partitions")
            check(md.offset >= 0 and md.offset not in offsets.setdefault(md.partition, set()),
                  f"partition {md.partition}: bad or duplicate offset {md.offset}")
            offsets[md.partition].add(md.offset)
        return part_of
    finally:
        await p.stop()


async def poll_n(c: AIOKafkaConsumer, n: int, timeout: float) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        batch = await c.getmany(timeout_ms=300, max_records=n - len(out))
        for tp in sorted(batch, key=lambda tp: tp.partition):
            out += [(r.key.decode(), r.value.decode(), r.partition) for r in batch[tp]]
    return out


async def read_partitions(bootstrap: str, topic: str, count: int, isolation: str = "read_uncommitted",
                          partitions: int = PARTITIONS) -> list[tuple[str, str, int]]:
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level=isolation,
                         auto_offset_reset="earliest")
    await c.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        c.assign(tps)
        await c.seek_to_beginning(*tps)
        out = await poll_n(c, count, 30)
        out += await poll_n(c, 1, 1.0)
        return out
    finally:
        await c.stop()


def group_consumer(bootstrap: str, group: str, *topics: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                            enable_auto_commit=False, **GROUP_TIMING)


# ---------------------------------------------------------------------------------------------- scenarios

@sync
async def s_metadata(bootstrap: str) -> None:
    async with Admin(bootstrap) as a:
        cl = await a.describe_cluster()
        brokers = cl["brokers"]
        want = sorted(addresses(bootstrap))
        check(len(brokers) == len(want), f"expected {len(want)} broker(s), got {brokers}")
        advertised = sorted(f"{b['host']}:{b['port']}" for b in brokers)
        check(advertised == want, f"brokers advertised as {advertised}, bootstrap {want}")
        check(cl.get("controller_id") in {b["node_id"] for b in brokers}, f"controller {cl.get('controller_id')}")
        check(cl.get("cluster_id"), "no cluster id")


@sync
async def s_create_topic(bootstrap: str) -> None:
    t = topic_name(CLIENT, "create")
    await create(bootstrap, t)
    async with Admin(bootstrap) as a:
        d = (await a.describe_topics([t]))[0]
        check(d["error_code"] == 0, f"describe error {d['error_code']}")
        check(len(d["partitions"]) == PARTITIONS, f"{len(d['partitions'])} partitions")
        for p in d["partitions"]:
            check(len(p["replicas"]) == replication_factor(bootstrap), f"partition replicas {p}")
        resp = await a.create_topics([NewTopic(t, PARTITIONS, replication_factor(bootstrap))], timeout_ms=10000)
        code = resp.topic_errors[0][1]
        check(code == TopicAlreadyExistsError.errno, f"second create answered error code {code}")


@sync
async def s_produce_acks_all(bootstrap: str) -> None:
    t = topic_name(CLIENT, "produce")
    await create(bootstrap, t)
    await produce(bootstrap, t)


@sync
async def s_consume_group(bootstrap: str) -> None:
    t = topic_name(CLIENT, "consume")
    await create(bootstrap, t)
    parts = await produce(bootstrap, t)
    c = group_consumer(bootstrap, group_name(CLIENT, "consume"), t)
    await c.start()
    try:
        got = await poll_n(c, len(messages()), 40)
    finally:
        await c.stop()
    verify_consumed(got, parts)


@sync
async def s_commit_resume(bootstrap: str) -> None:
    t = topic_name(CLIENT, "resume")
    g = group_name(CLIENT, "resume")
    await create(bootstrap, t)
    parts = await produce(bootstrap, t)
    total = len(messages())
    c = group_consumer(bootstrap, g, t)
    await c.start()
    try:
        first = await poll_n(c, total // 2, 40)
        check(len(first) == total // 2, f"first consumer got {len(first)} of {total // 2}")
        await c.commit()
        positions = {tp.partition: await c.position(tp) for tp in c.assignment()}
    finally:
        await c.stop()
    c2 = group_consumer(bootstrap, g, t)
    await c2.start()
    try:
        read = {row[2] for row in first}
        for p, off in positions.items():
            got = await c2.committed(TopicPartition(t, p))
            # commit() commits the positions it has: a partition the first member read nothing from may have
            # had none yet (its reset to earliest still under way), so nothing, or 0, is committed for it
            ok = got == off if p in read else got in (None, 0)
            check(ok, f"partition {p}: committed {got}, position at commit {off}, read from it: {p in read}")
        rest = await poll_n(c2, total - len(first), 40)
        rest += await poll_n(c2, 1, 1.5)
    finally:
        await c2.stop()
    verify_consumed(first + rest, parts)


@sync
async def s_group_rebalance(bootstrap: str) -> None:
    t = topic_name(CLIENT, "rebalance")
    g = group_name(CLIENT, "rebalance")
    await create(bootstrap, t)
    allp = set(range(PARTITIONS))

    def parts(c) -> set[int]:
        return {tp.partition for tp in c.assignment()}

    c1 = group_consumer(bootstrap, g, t)
    c2 = group_consumer(bootstrap, g, t)
    await c1.start()
    try:
        deadline = time.monotonic() + 30
        while parts(c1) != allp and time.monotonic() < deadline:
            await c1.getmany(timeout_ms=200)
        check(parts(c1) == allp, f"first member assigned {sorted(parts(c1))}")
        await c2.start()
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            await asyncio.gather(c1.getmany(timeout_ms=100), c2.getmany(timeout_ms=100))
            a, b = parts(c1), parts(c2)
            if a and b and not (a & b) and (a | b) == allp:
                break
        a, b = parts(c1), parts(c2)
        check(a and b and not (a & b) and (a | b) == allp,
              f"two members did not split the partitions: {sorted(a)} / {sorted(b)}")
        batch_a = [(k, f"{k}:{i}") for i in range(5) for k in KEYS]
        await produce(bootstrap, t, items=batch_a)
        got1, got2 = [], []
        deadline = time.monotonic() + 30
        while len(got1) + len(got2) < len(batch_a) and time.monotonic() < deadline:
            r1, r2 = await asyncio.gather(poll_n(c1, 1, 0.1), poll_n(c2, 1, 0.1))
            got1 += r1
            got2 += r2
            await asyncio.gather(c1.commit(), c2.commit())
        check(len(got1) + len(got2) == len(batch_a), f"members consumed {len(got1)}+{len(got2)} of {len(batch_a)}")
        check({p for _, _, p in got1} <= a and {p for _, _, p in got2} <= b,
              "a member got messages from partitions it was not assigned")
        await c2.stop()
        deadline = time.monotonic() + 40
        while parts(c1) != allp and time.monotonic() < deadline:
            await c1.getmany(timeout_ms=200)
        check(parts(c1) == allp, f"after the second member left the first has {sorted(parts(c1))}")
        batch_b = [(k, f"{k}:{i}") for i in range(5, 10) for k in KEYS]
        await produce(bootstrap, t, items=batch_b)
        after = await poll_n(c1, len(batch_b), 30)
        after += await poll_n(c1, 1, 1.5)
        check(sorted(v for _, v, _ in after) == sorted(v for _, v in batch_b),
              f"after takeover the remaining member got {len(after)} messages, expected exactly the "
              f"{len(batch_b)} new ones")
    finally:
        await c1.stop()
        await c2.stop()


async def _stable_group(bootstrap: str, scenario: str):
    t = topic_name(CLIENT, scenario)
    g = group_name(CLIENT, scenario)
    await create(bootstrap, t)
    await produce(bootstrap, t, items=messages()[:24])
    c = group_consumer(bootstrap, g, t)
    await c.start()
    got = await poll_n(c, 24, 30)
    check(len(got) == 24, f"group member consumed {len(got)} of 24")
    await c.commit()
    return t, g, c


@sync
async def s_list_groups(bootstrap: str) -> None:
    _, g, c = await _stable_group(bootstrap, "listgroups")
    try:
        async with Admin(bootstrap) as a:
            groups = await a.list_consumer_groups()
        found = [x for x in groups if x[0] == g]
        check(found, f"group {g} not listed among {[x[0] for x in groups]}")
        check(found[0][1] == "consumer", f"listed as {found[0]}")
    finally:
        await c.stop()


@sync
async def s_describe_groups(bootstrap: str) -> None:
    t, g, c = await _stable_group(bootstrap, "describegroups")
    try:
        async with Admin(bootstrap) as a:
            resp = (await a.describe_consumer_groups([g]))[0]
            offs = await a.list_consumer_group_offsets(g)
        d = resp.to_object()["groups"][0]
        check(d["error_code"] == 0 and d["group"] == g, f"describe answered {d}")
        check(d["state"] == "Stable", f"state {d['state']}")
        check(d["protocol_type"] == "consumer" and d["protocol"], f"protocol {d['protocol_type']}/{d['protocol']}")
        check(len(d["members"]) == 1, f"{len(d['members'])} members")
        check(sum(o.offset for tp, o in offs.items() if tp.topic == t) == 24, f"committed offsets {offs}")
    finally:
        await c.stop()


@sync
async def s_list_offsets(bootstrap: str) -> None:
    t = topic_name(CLIENT, "offsets")
    await create(bootstrap, t, 1)
    base = int(time.time() * 1000) - 60_000
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await p.start()
    try:
        for i in range(10):
            await p.send_and_wait(t, key=b"k", value=str(i).encode(), partition=0, timestamp_ms=base + i * 1000)
    finally:
        await p.stop()
    tp = TopicPartition(t, 0)
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await c.start()
    try:
        first = (await c.beginning_offsets([tp]))[tp]
        last = (await c.end_offsets([tp]))[tp]
        check(first == 0 and last == 10, f"earliest {first}, latest {last}")
        ot = (await c.offsets_for_times({tp: base + 3500}))[tp]
        check(ot is not None and ot.offset == 4 and ot.timestamp == base + 4000, f"offsets_for_times {ot}")
        none = (await c.offsets_for_times({tp: base + 99_000}))[tp]
        check(none is None, f"a timestamp after the last message found {none}")
    finally:
        await c.stop()


@sync
async def s_idempotent_producer(bootstrap: str) -> None:
    t = topic_name(CLIENT, "idempotent")
    await create(bootstrap, t)
    parts = await produce(bootstrap, t, enable_idempotence=True)
    verify_consumed(await read_partitions(bootstrap, t, len(messages())), parts)


@sync
async def s_transactions(bootstrap: str) -> None:
    t = topic_name(CLIENT, "txn")
    await create(bootstrap, t)
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=topic_name(CLIENT, "txid"),
                         transaction_timeout_ms=30000)
    try:
        await asyncio.wait_for(p.start(), 20)
    except asyncio.TimeoutError:
        await p.stop()
        raise Failure("producer start with transactional_id (FindCoordinator + InitProducerId) did not finish "
                      "in 20 s") from None
    try:
        for name, commit in (("A", True), ("B", False), ("C", True)):
            await p.begin_transaction()
            futs = []
            for i in range(10):
                for k in KEYS[:3]:
                    futs.append(await p.send(t, key=k.encode(), value=f"{k}:{name}{i}".encode()))
            await asyncio.gather(*futs)
            await (p.commit_transaction() if commit else p.abort_transaction())
    finally:
        await p.stop()
    committed = await read_partitions(bootstrap, t, 60, "read_committed")
    values = [v for _, v, _ in committed]
    check(len(values) == 60 and all(":B" not in v for v in values),
          f"read_committed saw {len(values)} messages ({sum(':B' in v for v in values)} aborted), expected 60")
    for k in KEYS[:3]:
        seq = [v.split(":")[1] for kk, v, _ in committed if kk == k]
        check(seq == [f"A{i}" for i in range(10)] + [f"C{i}" for i in range(10)], f"key {k} order {seq}")
    everything = await read_partitions(bootstrap, t, 90, "read_uncommitted")
    check(len(everything) == 90, f"read_uncommitted saw {len(everything)} messages, expected 90")


def compression(codec: str):
    @sync
    async def s(bootstrap: str) -> None:
        t = topic_name(CLIENT, codec)
        await create(bootstrap, t)
        parts = await produce(bootstrap, t, compression_type=codec, linger_ms=50)
        verify_consumed(await read_partitions(bootstrap, t, len(messages())), parts)
    return s


@sync
async def s_delete_topic(bootstrap: str) -> None:
    t = topic_name(CLIENT, "delete")
    await create(bootstrap, t)
    await produce(bootstrap, t, items=messages()[:8])
    async with Admin(bootstrap) as a:
        resp = await a.delete_topics([t], timeout_ms=10000)
        errs = [e for e in resp.topic_error_codes if e[1] != 0]
        check(not errs, f"delete errors {errs}")
        deadline = time.monotonic() + 10
        while t in await a.list_topics() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        check(t not in await a.list_topics(), "topic still listed 10 s after deletion")
        resp = await a.delete_topics([t], timeout_ms=10000)
        code = resp.topic_error_codes[0][1]
        check(code == UnknownTopicOrPartitionError.errno, f"deleting a deleted topic answered {code}")


if __name__ == "__main__":
    main("aiokafka", aiokafka.__version__, {
        "metadata": s_metadata,
        "create_topic": s_create_topic,
        "produce_acks_all": s_produce_acks_all,
        "consume_group": s_consume_group,
        "commit_resume": s_commit_resume,
        "group_rebalance": s_group_rebalance,
        "list_groups": s_list_groups,
        "describe_groups": s_describe_groups,
        "list_offsets": s_list_offsets,
        "idempotent_producer": s_idempotent_producer,
        "transactions": s_transactions,
        "compression_gzip": compression("gzip"),
        "compression_snappy": compression("snappy"),
        "compression_lz4": compression("lz4"),
        "compression_zstd": compression("zstd"),
        "delete_topic": s_delete_topic,
    })
