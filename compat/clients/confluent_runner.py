"""Compat scenarios with confluent-kafka (librdkafka) and its AdminClient. Run by compat/run.py."""
from __future__ import annotations

import time

import confluent_kafka
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from _harness import (addresses, replication_factor, KEYS, PARTITIONS, Failure, NotApplicable, check, group_name, main, messages, topic_name,
                      verify_consumed)

CLIENT = "confluent"
GROUP_TIMING = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}


_admins: dict[str, AdminClient] = {}


def admin(bootstrap: str) -> AdminClient:
    """One AdminClient per bootstrap, kept alive (a dropped handle fails its pending futures)."""
    if bootstrap not in _admins:
        _admins[bootstrap] = AdminClient({"bootstrap.servers": bootstrap})
    return _admins[bootstrap]


def create(bootstrap: str, topic: str, partitions: int = PARTITIONS) -> None:
    futures = admin(bootstrap).create_topics([NewTopic(topic, partitions, replication_factor(bootstrap))], operation_timeout=10)
    futures[topic].result(15)


def produce(bootstrap: str, topic: str, extra: dict | None = None,
            items: list[tuple[str, str]] | None = None) -> dict[str, int]:
    """Produce keyed messages with acks=all, check every delivery report, return key -> partition."""
    items = messages() if items is None else items
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, **(extra or {})})
    reports: list = []
    for k, v in items:
        p.produce(topic, key=k.encode(), value=v.encode(), on_delivery=lambda err, msg: reports.append((err, msg)))
        p.poll(0)
    left = p.flush(30)
    check(left == 0, f"{left} messages still undelivered after 30 s")
    check(len(reports) == len(items), f"{len(reports)} delivery reports for {len(items)} messages")
    errors = [str(err) for err, _ in reports if err is not None]
    check(not errors, f"{len(errors)} failed deliveries, first: {errors[:1]}")
    part_of: dict[str, int] = {}
    offsets: dict[int, list[int]] = {}
    for _, m in reports:
        k = m.key().decode()
        check(part_of.setdefault(k, m.partition()) == m.partition(), f"key {k} delivered to two partitions")
        offsets.setdefault(m.partition(), []).append(m.offset())
    for part, offs in offsets.items():
        check(len(set(offs)) == len(offs) and min(offs) >= 0, f"partition {part}: duplicate/negative offsets")
    return part_of


def read_partitions(bootstrap: str, topic: str, count: int, isolation: str = "read_uncommitted",
                    partitions: int = PARTITIONS, timeout: float = 30) -> list[tuple[str, str, int]]:
    """Read from the beginning of every partition without a consumer group (assign, no commits)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "compat-unused", "enable.auto.commit": False,
                  "isolation.level": isolation, "enable.partition.eof": False})
    try:
        c.assign([TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING) for p in range(partitions)])
        out: list[tuple[str, str, int]] = []
        deadline = time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                raise KafkaException(m.error())
            out.append((m.key().decode(), m.value().decode(), m.partition()))
        # linger a little to catch messages that should not be there
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            m = c.poll(0.2)
            if m is not None and not m.error():
                out.append((m.key().decode(), m.value().decode(), m.partition()))
        return out
    finally:
        c.close()


def group_consumer(bootstrap: str, group: str, **extra) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                     "enable.auto.commit": False, **GROUP_TIMING, **extra})


def poll_n(c: Consumer, n: int, timeout: float, commit_each: bool = False) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            raise KafkaException(m.error())
        out.append((m.key().decode(), m.value().decode(), m.partition()))
        if commit_each:
            c.commit(message=m, asynchronous=False)
    return out


# ---------------------------------------------------------------------------------------------- scenarios

def s_metadata(bootstrap: str) -> None:
    md = admin(bootstrap).list_topics(timeout=10)
    want = sorted(addresses(bootstrap))
    check(len(md.brokers) == len(want), f"expected {len(want)} broker(s), got {len(md.brokers)}")
    advertised = sorted(f"{b.host}:{b.port}" for b in md.brokers.values())
    check(advertised == want, f"brokers advertised as {advertised}, bootstrap {want}")
    check(md.controller_id in md.brokers, f"controller id {md.controller_id}, broker ids {sorted(md.brokers)}")
    check(md.cluster_id, "no cluster id")


def s_create_topic(bootstrap: str) -> None:
    t = topic_name(CLIENT, "create")
    create(bootstrap, t)
    md = admin(bootstrap).list_topics(t, timeout=10)
    tm = md.topics[t]
    check(tm.error is None, f"topic metadata error {tm.error}")
    check(len(tm.partitions) == PARTITIONS, f"{len(tm.partitions)} partitions, expected {PARTITIONS}")
    for p in tm.partitions.values():
        check(p.leader in md.brokers, f"partition {p.id} leader {p.leader} is not a known broker")
        check(len(p.replicas) == replication_factor(bootstrap), f"partition {p.id} replicas {p.replicas}")
    # creating it again must fail with TOPIC_ALREADY_EXISTS
    try:
        create(bootstrap, t)
    except KafkaException as exc:
        check(exc.args[0].code() == confluent_kafka.KafkaError.TOPIC_ALREADY_EXISTS, f"second create: {exc}")
    else:
        raise Failure("creating an existing topic succeeded")


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
        c.commit(asynchronous=False)
        positions = {tp.partition: tp.offset for tp in c.position(c.assignment())}
    finally:
        c.close()
    c2 = group_consumer(bootstrap, g)
    try:
        committed = {tp.partition: tp.offset for tp in
                     c2.committed([TopicPartition(t, p) for p in range(PARTITIONS)], timeout=10)}
        check(all(committed[p] == positions.get(p, committed[p]) for p in committed),
              f"committed {committed}, positions at commit {positions}")
        c2.subscribe([t])
        rest = poll_n(c2, total - len(first), 40)
        rest += poll_n(c2, 1, 1.5)  # nothing more may come
    finally:
        c2.close()
    verify_consumed(first + rest, parts)


def s_group_rebalance(bootstrap: str) -> None:
    t = topic_name(CLIENT, "rebalance")
    g = group_name(CLIENT, "rebalance")
    create(bootstrap, t)
    assigned: dict[str, set[int]] = {"c1": set(), "c2": set()}

    def tracker(name: str):
        def on_assign(c, parts):
            assigned[name] = {p.partition for p in parts}

        def on_revoke(c, parts):
            assigned[name] = set()
        return {"on_assign": on_assign, "on_revoke": on_revoke}

    c1 = group_consumer(bootstrap, g)
    c2 = group_consumer(bootstrap, g)
    got: dict[str, list] = {"c1": [], "c2": []}
    try:
        c1.subscribe([t], **tracker("c1"))
        deadline = time.monotonic() + 30
        while assigned["c1"] != set(range(PARTITIONS)) and time.monotonic() < deadline:
            c1.poll(0.2)
        check(assigned["c1"] == set(range(PARTITIONS)), f"first member assigned {sorted(assigned['c1'])}")
        c2.subscribe([t], **tracker("c2"))
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            c1.poll(0.1)
            c2.poll(0.1)
            a, b = assigned["c1"], assigned["c2"]
            if a and b and not (a & b) and (a | b) == set(range(PARTITIONS)):
                break
        a, b = assigned["c1"], assigned["c2"]
        check(a and b and not (a & b) and (a | b) == set(range(PARTITIONS)),
              f"two members did not split the partitions: {sorted(a)} / {sorted(b)}")
        batch_a = [(k, f"{k}:{i}") for i in range(5) for k in KEYS]
        produce(bootstrap, t, items=batch_a)
        deadline = time.monotonic() + 30
        while len(got["c1"]) + len(got["c2"]) < len(batch_a) and time.monotonic() < deadline:
            got["c1"] += poll_n(c1, 1, 0.1, commit_each=True)
            got["c2"] += poll_n(c2, 1, 0.1, commit_each=True)
        check(len(got["c1"]) + len(got["c2"]) == len(batch_a),
              f"members consumed {len(got['c1'])}+{len(got['c2'])} of {len(batch_a)}")
        for name in ("c1", "c2"):
            wrong = {p for _, _, p in got[name]} - assigned[name]
            check(not wrong, f"{name} got messages from partitions {sorted(wrong)} it was not assigned")
        c2.close()
        c2 = None
        deadline = time.monotonic() + 40
        while assigned["c1"] != set(range(PARTITIONS)) and time.monotonic() < deadline:
            c1.poll(0.2)
        check(assigned["c1"] == set(range(PARTITIONS)),
              f"after the second member left the first has {sorted(assigned['c1'])}")
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


def _stable_group(bootstrap: str, scenario: str) -> tuple[str, str, Consumer]:
    t = topic_name(CLIENT, scenario)
    g = group_name(CLIENT, scenario)
    create(bootstrap, t)
    produce(bootstrap, t, items=messages()[:24])
    c = group_consumer(bootstrap, g)
    c.subscribe([t])
    got = poll_n(c, 24, 30)
    check(len(got) == 24, f"group member consumed {len(got)} of 24")
    c.commit(asynchronous=False)
    return t, g, c


def s_list_groups(bootstrap: str) -> None:
    _, g, c = _stable_group(bootstrap, "listgroups")
    try:
        res = admin(bootstrap).list_consumer_groups(request_timeout=10).result(15)
        check(not res.errors, f"list errors {res.errors}")
        found = [x for x in res.valid if x.group_id == g]
        check(found, f"group {g} not listed among {[x.group_id for x in res.valid]}")
        check(found[0].state == confluent_kafka.ConsumerGroupState.STABLE, f"listed state {found[0].state}")
    finally:
        c.close()


def s_describe_groups(bootstrap: str) -> None:
    t, g, c = _stable_group(bootstrap, "describegroups")
    try:
        d = admin(bootstrap).describe_consumer_groups([g], request_timeout=10)[g].result(15)
        check(d.state == confluent_kafka.ConsumerGroupState.STABLE, f"state {d.state}")
        check(len(d.members) == 1, f"{len(d.members)} members")
        parts = {tp.partition for tp in d.members[0].assignment.topic_partitions if tp.topic == t}
        check(parts == set(range(PARTITIONS)), f"member assignment {sorted(parts)}")
        check(d.partition_assignor, "no partition assignor reported")
        offs = admin(bootstrap).list_consumer_group_offsets(
            [confluent_kafka.ConsumerGroupTopicPartitions(g)])[g].result(15)
        check(sum(tp.offset for tp in offs.topic_partitions if tp.topic == t) == 24,
              f"committed offsets {[(tp.partition, tp.offset) for tp in offs.topic_partitions]}")
    finally:
        c.close()


def s_list_offsets(bootstrap: str) -> None:
    t = topic_name(CLIENT, "offsets")
    create(bootstrap, t, 1)
    base = int(time.time() * 1000) - 60_000
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    errs: list = []
    for i in range(10):
        p.produce(t, key=b"k", value=str(i).encode(), partition=0, timestamp=base + i * 1000,
                  on_delivery=lambda err, msg: errs.append(err))
    check(p.flush(20) == 0 and errs == [None] * 10, f"delivery errors {errs}")
    a = admin(bootstrap)
    tp = TopicPartition(t, 0)

    def one(spec) -> int:
        return a.list_offsets({tp: spec}, request_timeout=10)[tp].result(15).offset

    check(one(OffsetSpec.earliest()) == 0, f"earliest {one(OffsetSpec.earliest())}")
    check(one(OffsetSpec.latest()) == 10, f"latest {one(OffsetSpec.latest())}")
    check(one(OffsetSpec.for_timestamp(base + 3500)) == 4,
          f"by timestamp base+3.5s: {one(OffsetSpec.for_timestamp(base + 3500))}, expected 4")
    check(one(OffsetSpec.for_timestamp(base + 99_000)) == -1, "timestamp after the last message should give -1")
    got = one(OffsetSpec.max_timestamp())
    check(got == 9, f"max_timestamp offset {got}, expected 9")


def s_idempotent_producer(bootstrap: str) -> None:
    t = topic_name(CLIENT, "idempotent")
    create(bootstrap, t)
    parts = produce(bootstrap, t, {"enable.idempotence": True})
    verify_consumed(read_partitions(bootstrap, t, len(messages())), parts)


def s_transactions(bootstrap: str) -> None:
    t = topic_name(CLIENT, "txn")
    create(bootstrap, t)
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": topic_name(CLIENT, "txid"),
                  "transaction.timeout.ms": 30000})
    p.init_transactions(15)
    batches = {"A": True, "B": False, "C": True}
    for name, commit in batches.items():
        p.begin_transaction()
        for i in range(10):
            for k in KEYS[:3]:
                p.produce(t, key=k.encode(), value=f"{k}:{name}{i}".encode())
        p.flush(15)
        if commit:
            p.commit_transaction(15)
        else:
            p.abort_transaction(15)
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
        parts = produce(bootstrap, t, {"compression.type": codec, "linger.ms": 50})
        verify_consumed(read_partitions(bootstrap, t, len(messages())), parts)
    return s


def s_delete_topic(bootstrap: str) -> None:
    t = topic_name(CLIENT, "delete")
    create(bootstrap, t)
    produce(bootstrap, t, items=messages()[:8])
    a = admin(bootstrap)
    a.delete_topics([t], operation_timeout=10)[t].result(15)
    deadline = time.monotonic() + 10
    while t in a.list_topics(timeout=10).topics and time.monotonic() < deadline:
        time.sleep(0.2)
    check(t not in a.list_topics(timeout=10).topics, "topic still listed 10 s after deletion")
    try:
        a.delete_topics([t], operation_timeout=10)[t].result(15)
    except KafkaException as exc:
        check(exc.args[0].code() == confluent_kafka.KafkaError.UNKNOWN_TOPIC_OR_PART, f"second delete: {exc}")
    else:
        raise Failure("deleting a deleted topic succeeded")


def s_share_group(bootstrap: str) -> None:
    """KIP-932: two share consumers (confluent-kafka >= 2.16's ShareConsumer) read one topic together; the first
    releases the first record it gets, which comes back; every record is delivered, each consumer gets some."""
    share_consumer = getattr(confluent_kafka, "ShareConsumer", None)
    if share_consumer is None:
        raise NotApplicable(f"confluent-kafka {confluent_kafka.__version__} has no ShareConsumer (2.16+)")
    from confluent_kafka import AcknowledgeType
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    t, g = topic_name(CLIENT, "share"), group_name(CLIENT, "share")
    create(bootstrap, t)
    resource = ConfigResource(ResourceType.GROUP, g, incremental_configs=[
        ConfigEntry("share.auto.offset.reset", "earliest", incremental_operation=AlterConfigOpType.SET)])
    admin(bootstrap).incremental_alter_configs([resource])[resource].result(15)
    produce(bootstrap, t)
    expected = {v for _, v in messages()}
    consumers = [share_consumer({"bootstrap.servers": bootstrap, "group.id": g,
                                 "share.acknowledgement.mode": "explicit"}) for _ in range(2)]
    got: list[list[str]] = [[], []]
    released: str | None = None
    try:
        for c in consumers:
            c.subscribe([t])
        deadline = time.monotonic() + 40
        while set(got[0]) | set(got[1]) != expected or (released is not None and released not in
                                                         got[0][got[0].index(released) + 1:] + got[1]):
            check(time.monotonic() < deadline, f"share consumers got {len(set(got[0]) | set(got[1]))} of "
                                               f"{len(expected)} records in 40 s")
            for i, c in enumerate(consumers):
                for m in c.poll(0.3):
                    if m.error():
                        raise KafkaException(m.error())
                    value = m.value().decode()
                    got[i].append(value)
                    if i == 0 and released is None:
                        released = value
                        c.acknowledge(m, AcknowledgeType.RELEASE)
                    else:
                        c.acknowledge(m, AcknowledgeType.ACCEPT)
                c.commit_sync(15)
    finally:
        for c in consumers:
            c.close()
    check(all(got), f"records per consumer: {[len(x) for x in got]} (each should get some)")
    check(len(got[0]) + len(got[1]) == len(expected) + 1,
          f"{len(got[0]) + len(got[1])} deliveries of {len(expected)} records with one released")


if __name__ == "__main__":
    main("confluent-kafka", f"{confluent_kafka.__version__} (librdkafka {confluent_kafka.libversion()[0]})", {
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
        "share_group": s_share_group,
    })
