"""Compat scenarios with kafka-python (its own protocol code) and its KafkaAdminClient. Run by compat/run.py."""
from __future__ import annotations

import time

import kafka
import kafka.errors as Errors
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import OffsetSpec

from _harness import (addresses, replication_factor, KEYS, PARTITIONS, Failure, check, group_name, main, messages, topic_name,
                      verify_consumed)

CLIENT = "kafka-python"
GROUP_TIMING = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 500}


def admin(bootstrap: str) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)


def create(bootstrap: str, topic: str, partitions: int = PARTITIONS) -> None:
    a = admin(bootstrap)
    try:
        a.create_topics({topic: {"num_partitions": partitions,
                                "replication_factor": replication_factor(bootstrap)}}, timeout_ms=10000)
    finally:
        a.close()


def produce(bootstrap: str, topic: str, items: list[tuple[str, str]] | None = None, **extra) -> dict[str, int]:
    items = messages() if items is None else items
    p = KafkaProducer(bootstrap_servers=bootstrap, **{"acks": "all", "linger_ms": 5, **extra})
    try:
        futures = [(k, p.send(topic, key=k.encode(), value=v.encode())) for k, v in items]
        p.flush(30)
        part_of: dict[str, int] = {}
        offsets: dict[int, set[int]] = {}
        for k, f in futures:
            md = f.get(timeout=10)  # raises the delivery error, if any
            check(part_of.setdefault(k, md.partition) == md.partition, f"key {k} delivered to two partitions")
            check(md.offset >= 0 and md.offset not in offsets.setdefault(md.partition, set()),
                  f"partition {md.partition}: bad or duplicate offset {md.offset}")
            offsets[md.partition].add(md.offset)
        return part_of
    finally:
        p.close(10)


def _rows(records) -> list[tuple[str, str, int]]:
    return [(r.key.decode(), r.value.decode(), r.partition) for r in records]


def poll_n(c: KafkaConsumer, n: int, timeout: float) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        batch = c.poll(timeout_ms=300, max_records=n - len(out))
        for tp in sorted(batch, key=lambda tp: tp.partition):
            out += _rows(batch[tp])
    return out


def read_partitions(bootstrap: str, topic: str, count: int, isolation: str = "read_uncommitted",
                    partitions: int = PARTITIONS, timeout: float = 30) -> list[tuple[str, str, int]]:
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                      isolation_level=isolation, auto_offset_reset="earliest")
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        out = poll_n(c, count, timeout)
        out += poll_n(c, 1, 1.0)
        return out
    finally:
        c.close()


def group_consumer(bootstrap: str, group: str, **extra) -> KafkaConsumer:
    return KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                         enable_auto_commit=False, **GROUP_TIMING, **extra)


# ---------------------------------------------------------------------------------------------- scenarios

def s_metadata(bootstrap: str) -> None:
    a = admin(bootstrap)
    try:
        cl = a.describe_cluster()
        brokers = cl["brokers"]
        want = sorted(addresses(bootstrap))
        check(len(brokers) == len(want), f"expected {len(want)} broker(s), got {brokers}")
        advertised = sorted(f"{b['host']}:{b['port']}" for b in brokers)
        check(advertised == want, f"brokers advertised as {advertised}, bootstrap {want}")
        check(cl.get("controller_id") in {b["broker_id"] for b in brokers}, f"controller {cl.get('controller_id')}")
        check(cl.get("cluster_id"), "no cluster id")
        a.list_topics()
    finally:
        a.close()


def s_create_topic(bootstrap: str) -> None:
    t = topic_name(CLIENT, "create")
    create(bootstrap, t)
    a = admin(bootstrap)
    try:
        d = a.describe_topics([t])[0]
        check(d["error_code"] == 0, f"describe error {d['error_code']}")
        check(len(d["partitions"]) == PARTITIONS, f"{len(d['partitions'])} partitions")
        for p in d["partitions"]:
            check(len(p["replica_nodes"]) == replication_factor(bootstrap), f"partition replicas {p}")
        try:
            a.create_topics({t: {"num_partitions": PARTITIONS, "replication_factor": replication_factor(bootstrap)}})
        except Errors.TopicAlreadyExistsError:
            pass
        else:
            raise Failure("creating an existing topic succeeded")
    finally:
        a.close()


def s_produce_acks_all(bootstrap: str) -> None:
    t = topic_name(CLIENT, "produce")
    create(bootstrap, t)
    produce(bootstrap, t)


def s_consume_group(bootstrap: str) -> None:
    t = topic_name(CLIENT, "consume")
    create(bootstrap, t)
    parts = produce(bootstrap, t)
    c = group_consumer(bootstrap, group_name(CLIENT, "consume"))
    try:
        c.subscribe([t])
        got = poll_n(c, len(messages()), 40)
    finally:
        c.close()
    verify_consumed(got, parts)


def s_commit_resume(bootstrap: str) -> None:
    t = topic_name(CLIENT, "resume")
    g = group_name(CLIENT, "resume")
    create(bootstrap, t)
    parts = produce(bootstrap, t)
    total = len(messages())
    c = group_consumer(bootstrap, g)
    try:
        c.subscribe([t])
        first = poll_n(c, total // 2, 40)
        check(len(first) == total // 2, f"first consumer got {len(first)} of {total // 2}")
        c.commit()
        positions = {tp.partition: c.position(tp) for tp in c.assignment()}
    finally:
        c.close()
    c2 = group_consumer(bootstrap, g)
    try:
        for p, off in positions.items():
            got = c2.committed(TopicPartition(t, p))
            check(got == off, f"partition {p}: committed {got}, position at commit {off}")
        c2.subscribe([t])
        rest = poll_n(c2, total - len(first), 40)
        rest += poll_n(c2, 1, 1.5)
    finally:
        c2.close()
    verify_consumed(first + rest, parts)


def s_group_rebalance(bootstrap: str) -> None:
    t = topic_name(CLIENT, "rebalance")
    g = group_name(CLIENT, "rebalance")
    create(bootstrap, t)
    allp = set(range(PARTITIONS))
    c1 = group_consumer(bootstrap, g)
    c2 = group_consumer(bootstrap, g)

    def parts(c) -> set[int]:
        return {tp.partition for tp in c.assignment()}

    try:
        c1.subscribe([t])
        deadline = time.monotonic() + 30
        while parts(c1) != allp and time.monotonic() < deadline:
            c1.poll(200)
        check(parts(c1) == allp, f"first member assigned {sorted(parts(c1))}")
        c2.subscribe([t])
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            c1.poll(100)
            c2.poll(100)
            a, b = parts(c1), parts(c2)
            if a and b and not (a & b) and (a | b) == allp:
                break
        a, b = parts(c1), parts(c2)
        check(a and b and not (a & b) and (a | b) == allp,
              f"two members did not split the partitions: {sorted(a)} / {sorted(b)}")
        batch_a = [(k, f"{k}:{i}") for i in range(5) for k in KEYS]
        produce(bootstrap, t, items=batch_a)
        got1, got2 = [], []
        deadline = time.monotonic() + 30
        while len(got1) + len(got2) < len(batch_a) and time.monotonic() < deadline:
            got1 += poll_n(c1, 1, 0.1)
            c1.commit()
            got2 += poll_n(c2, 1, 0.1)
            c2.commit()
        check(len(got1) + len(got2) == len(batch_a), f"members consumed {len(got1)}+{len(got2)} of {len(batch_a)}")
        check({p for _, _, p in got1} <= a and {p for _, _, p in got2} <= b,
              "a member got messages from partitions it was not assigned")
        c2.close()
        c2 = None
        deadline = time.monotonic() + 40
        while parts(c1) != allp and time.monotonic() < deadline:
            c1.poll(200)
        check(parts(c1) == allp, f"after the second member left the first has {sorted(parts(c1))}")
        batch_b = [(k, f"{k}:{i}") for i in range(5, 10) for k in KEYS]
        produce(bootstrap, t, items=batch_b)
        after = poll_n(c1, len(batch_b), 30)
        after += poll_n(c1, 1, 1.5)
        check(sorted(v for _, v, _ in after) == sorted(v for _, v in batch_b),
              f"after takeover the remaining member got {len(after)} messages, expected exactly the "
              f"{len(batch_b)} new ones")
    finally:
        c1.close()
        if c2 is not None:
            c2.close()


def _stable_group(bootstrap: str, scenario: str):
    t = topic_name(CLIENT, scenario)
    g = group_name(CLIENT, scenario)
    create(bootstrap, t)
    produce(bootstrap, t, items=messages()[:24])
    c = group_consumer(bootstrap, g)
    c.subscribe([t])
    got = poll_n(c, 24, 30)
    check(len(got) == 24, f"group member consumed {len(got)} of 24")
    c.commit()
    return t, g, c


def s_list_groups(bootstrap: str) -> None:
    _, g, c = _stable_group(bootstrap, "listgroups")
    a = admin(bootstrap)
    try:
        groups = a.list_groups()
        found = [x for x in groups if x["group_id"] == g]
        check(found, f"group {g} not listed among {[x['group_id'] for x in groups]}")
        check(found[0].get("protocol_type") == "consumer", f"listed as {found[0]}")
    finally:
        a.close()
        c.close()


def s_describe_groups(bootstrap: str) -> None:
    t, g, c = _stable_group(bootstrap, "describegroups")
    a = admin(bootstrap)
    try:
        d = a.describe_groups([g])[g]
        check(d.get("error") is None, f"error {d.get('error')}")
        check(d["group_state"] == "Stable", f"state {d['group_state']}")
        check(d["protocol_type"] == "consumer" and d["protocol_data"], f"protocol {d['protocol_type']}/{d['protocol_data']}")
        check(len(d["members"]) == 1, f"{len(d['members'])} members")
        assignment = d["members"][0]["member_assignment"]
        parts = {p for tp in assignment["assigned_partitions"] if tp["topic"] == t for p in tp["partitions"]}
        check(parts == set(range(PARTITIONS)), f"member assignment {assignment}")
        offs = a.list_group_offsets({g: None})[g]
        check(sum(o.offset for tp, o in offs.items() if tp.topic == t) == 24, f"committed offsets {offs}")
    finally:
        a.close()
        c.close()


def s_list_offsets(bootstrap: str) -> None:
    t = topic_name(CLIENT, "offsets")
    create(bootstrap, t, 1)
    base = int(time.time() * 1000) - 60_000
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        fs = [p.send(t, key=b"k", value=str(i).encode(), partition=0, timestamp_ms=base + i * 1000)
              for i in range(10)]
        p.flush(20)
        for f in fs:
            f.get(10)
    finally:
        p.close(10)
    tp = TopicPartition(t, 0)
    a = admin(bootstrap)
    try:
        def one(spec) -> int:
            return a.list_partition_offsets({tp: spec})[tp].offset
        check(one(OffsetSpec.EARLIEST) == 0, f"earliest {one(OffsetSpec.EARLIEST)}")
        check(one(OffsetSpec.LATEST) == 10, f"latest {one(OffsetSpec.LATEST)}")
        check(one(base + 3500) == 4, f"by timestamp: {one(base + 3500)}, expected 4")
        check(one(OffsetSpec.MAX_TIMESTAMP) == 9, f"max timestamp: {one(OffsetSpec.MAX_TIMESTAMP)}")
    finally:
        a.close()
    # and the consumer's offset look-ups
    c = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        check(c.beginning_offsets([tp])[tp] == 0 and c.end_offsets([tp])[tp] == 10, "consumer offset look-ups")
        ot = c.offsets_for_times({tp: base + 3500})[tp]
        check(ot is not None and ot.offset == 4 and ot.timestamp == base + 4000, f"offsets_for_times {ot}")
        check(c.offsets_for_times({tp: base + 99_000})[tp] is None, "a timestamp after the last message found one")
    finally:
        c.close()


def s_idempotent_producer(bootstrap: str) -> None:
    t = topic_name(CLIENT, "idempotent")
    create(bootstrap, t)
    parts = produce(bootstrap, t, enable_idempotence=True)
    verify_consumed(read_partitions(bootstrap, t, len(messages())), parts)


def s_transactions(bootstrap: str) -> None:
    t = topic_name(CLIENT, "txn")
    create(bootstrap, t)
    p = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=topic_name(CLIENT, "txid"),
                      transaction_timeout_ms=30000, max_block_ms=15000)
    try:
        p.init_transactions()
        for name, commit in (("A", True), ("B", False), ("C", True)):
            p.begin_transaction()
            for i in range(10):
                for k in KEYS[:3]:
                    p.send(t, key=k.encode(), value=f"{k}:{name}{i}".encode())
            p.flush(15)
            p.commit_transaction() if commit else p.abort_transaction()
    finally:
        p.close(10)
    committed = read_partitions(bootstrap, t, 60, "read_committed")
    values = [v for _, v, _ in committed]
    check(len(values) == 60 and all(":B" not in v for v in values),
          f"read_committed saw {len(values)} messages ({sum(':B' in v for v in values)} aborted), expected 60")
    for k in KEYS[:3]:
        seq = [v.split(":")[1] for kk, v, _ in committed if kk == k]
        check(seq == [f"A{i}" for i in range(10)] + [f"C{i}" for i in range(10)], f"key {k} order {seq}")
    everything = read_partitions(bootstrap, t, 90, "read_uncommitted")
    check(len(everything) == 90, f"read_uncommitted saw {len(everything)} messages, expected 90")


def compression(codec: str):
    def s(bootstrap: str) -> None:
        t = topic_name(CLIENT, codec)
        create(bootstrap, t)
        parts = produce(bootstrap, t, compression_type=codec, linger_ms=50)
        verify_consumed(read_partitions(bootstrap, t, len(messages())), parts)
    return s


def s_delete_topic(bootstrap: str) -> None:
    t = topic_name(CLIENT, "delete")
    create(bootstrap, t)
    produce(bootstrap, t, items=messages()[:8])
    a = admin(bootstrap)
    try:
        a.delete_topics([t], timeout_ms=10000)
        deadline = time.monotonic() + 10
        while t in a.list_topics() and time.monotonic() < deadline:
            time.sleep(0.2)
        check(t not in a.list_topics(), "topic still listed 10 s after deletion")
        try:
            a.delete_topics([t], timeout_ms=10000)
        except Errors.UnknownTopicOrPartitionError:
            pass
        else:
            raise Failure("deleting a deleted topic succeeded")
    finally:
        a.close()


if __name__ == "__main__":
    main("kafka-python", kafka.__version__, {
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
