"""The idempotence and transaction APIs frame by frame: the error codes Kafka gives, per version, and what Fetch,
ListOffsets and the introspection APIs (DescribeProducers, DescribeTransactions, ListTransactions) report."""
from __future__ import annotations

import time

import pytest

from tests.conftest import BrokerProcess
from tests.rawclient import RawClient
from wire.errors import ErrorCode as E
from wire.records import Record, build_batch, iter_batches

from .conftest import create_topics, unique, wait_until

pytestmark = pytest.mark.timeout(60)


class Txn:
    """A transactional producer spoken by hand."""

    def __init__(self, bootstrap: str, txn_id: str | None = None, timeout_ms: int = 60000) -> None:
        self.c = RawClient(bootstrap)
        self.txn_id = txn_id if txn_id is not None else unique("raw-tx")
        self.timeout_ms = timeout_ms
        self.pid = self.epoch = -1
        self.seq: dict[tuple[str, int], int] = {}

    def close(self) -> None:
        self.c.close()

    def init(self, version: int = 4) -> dict:
        resp = self.c.request(22, version, {"transactional_id": self.txn_id, "transaction_timeout_ms": self.timeout_ms,
                                            "producer_id": -1, "producer_epoch": -1})
        if resp["error_code"] == 0:
            self.pid, self.epoch = resp["producer_id"], resp["producer_epoch"]
            self.seq.clear()
        return resp

    def add(self, *parts: tuple[str, int], version: int = 3) -> dict[tuple[str, int], int]:
        topics: dict[str, list[int]] = {}
        for t, p in parts:
            topics.setdefault(t, []).append(p)
        resp = self.c.request(24, version, {
            "v3_and_below_transactional_id": self.txn_id, "v3_and_below_producer_id": self.pid,
            "v3_and_below_producer_epoch": self.epoch,
            "v3_and_below_topics": [{"name": t, "partitions": ps} for t, ps in topics.items()]})
        return {(t["name"], r["partition_index"]): r["partition_error_code"]
                for t in resp["results_by_topic_v3_and_below"] for r in t["results_by_partition"]}

    def produce(self, topic: str, partition: int, *values: bytes, version: int = 9, epoch: int | None = None,
                seq: int | None = None, transactional: bool = True) -> dict:
        key = (topic, partition)
        base = self.seq.get(key, 0) if seq is None else seq
        batch = build_batch([Record(i, 0, None, v) for i, v in enumerate(values)], producer_id=self.pid,
                            producer_epoch=self.epoch if epoch is None else epoch, base_sequence=base,
                            transactional=transactional)
        resp = self.c.request(0, version, {"transactional_id": self.txn_id if transactional else None, "acks": -1,
                                           "timeout_ms": 5000, "topic_data": [
            {"name": topic, "partition_data": [{"index": partition, "records": batch}]}]})
        out = resp["responses"][0]["partition_responses"][0]
        if out["error_code"] == 0 and seq is None:
            self.seq[key] = base + len(values)
        return out

    def end(self, commit: bool, version: int = 3, epoch: int | None = None) -> int:
        return self.c.request(26, version, {"transactional_id": self.txn_id, "producer_id": self.pid,
                                            "producer_epoch": self.epoch if epoch is None else epoch,
                                            "committed": commit})["error_code"]


@pytest.fixture
def raw(txn_broker: BrokerProcess):  # type: ignore[no-untyped-def]
    made: list[Txn] = []

    def make(**kw) -> Txn:  # type: ignore[no-untyped-def]
        t = Txn(txn_broker.bootstrap, **kw)
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()


def fetch(bootstrap: str, topic: str, isolation: int, offset: int = 0) -> dict:
    with RawClient(bootstrap) as c:
        resp = c.request(1, 11, {"replica_id": -1, "max_wait_ms": 0, "min_bytes": 0, "max_bytes": 1 << 20,
                                 "isolation_level": isolation, "session_id": 0, "session_epoch": -1,
                                 "topics": [{"topic": topic, "partitions": [
                                     {"partition": 0, "current_leader_epoch": -1, "fetch_offset": offset,
                                      "log_start_offset": -1, "partition_max_bytes": 1 << 20}]}],
                                 "forgotten_topics_data": [], "rack_id": ""})
    return resp["responses"][0]["partitions"][0]


def latest(bootstrap: str, topic: str, isolation: int, partition: int = 0) -> int:
    with RawClient(bootstrap) as c:
        resp = c.request(2, 5, {"replica_id": -1, "isolation_level": isolation, "topics": [
            {"name": topic, "partitions": [{"partition_index": partition, "current_leader_epoch": -1,
                                            "timestamp": -1}]}]})
    return resp["topics"][0]["partitions"][0]["offset"]


def batch_offsets(records: bytes) -> list[tuple[int, bool]]:
    return [(h.base_offset, h.is_control) for _, h in iter_batches(bytes(records or b""))]


# -- InitProducerId --------------------------------------------------------------------------------------------


def test_init_producer_id_errors(txn_broker: BrokerProcess) -> None:
    with RawClient(txn_broker.bootstrap) as c:
        def init(version: int, **body) -> dict:  # type: ignore[no-untyped-def]
            return c.request(22, version, {"transactional_id": None, "transaction_timeout_ms": 60000,
                                           "producer_id": -1, "producer_epoch": -1, **body})

        a, b = init(0), init(4)
        assert a["error_code"] == b["error_code"] == 0 and a["producer_epoch"] == b["producer_epoch"] == 0
        assert a["producer_id"] != b["producer_id"]
        assert init(4, transactional_id="")["error_code"] == E.INVALID_REQUEST
        assert init(4, transactional_id="x", transaction_timeout_ms=900001)["error_code"] == E.INVALID_TRANSACTION_TIMEOUT
        assert init(4, transactional_id="x", transaction_timeout_ms=0)["error_code"] == E.INVALID_TRANSACTION_TIMEOUT
        assert init(4, producer_id=5)["error_code"] == E.INVALID_REQUEST
        again = init(3, producer_id=b["producer_id"], producer_epoch=0)  # idempotent: a new id, as Kafka does
        assert again["error_code"] == 0 and again["producer_id"] not in (a["producer_id"], b["producer_id"])


def test_epoch_bumps_and_kip_360_recovery(raw, txn_broker: BrokerProcess) -> None:  # type: ignore[no-untyped-def]
    t = raw()
    assert t.init()["producer_epoch"] == 0
    first_pid = t.pid
    assert t.init()["producer_epoch"] == 1
    with RawClient(txn_broker.bootstrap) as c:
        def init(pid: int, epoch: int, version: int = 4) -> dict:
            return c.request(22, version, {"transactional_id": t.txn_id, "transaction_timeout_ms": 60000,
                                           "producer_id": pid, "producer_epoch": epoch})

        bumped = init(first_pid, 1)
        assert (bumped["error_code"], bumped["producer_id"], bumped["producer_epoch"]) == (0, first_pid, 2)
        retry = init(first_pid, 1)  # the retry of a bump that succeeded gets the same answer
        assert (retry["error_code"], retry["producer_epoch"]) == (0, 2)
        assert init(first_pid, 0)["error_code"] == E.PRODUCER_FENCED
        assert init(first_pid, 0, version=3)["error_code"] == E.INVALID_PRODUCER_EPOCH
        assert init(first_pid + 1000, 0)["error_code"] == E.PRODUCER_FENCED


# -- idempotent produce ---------------------------------------------------------------------------------------


def test_idempotent_produce_errors(raw, txn_broker: BrokerProcess) -> None:  # type: ignore[no-untyped-def]
    topic = unique("raw-idem")
    create_topics(txn_broker.bootstrap, (topic, 1))
    t = raw()
    with RawClient(txn_broker.bootstrap) as c:
        init = c.request(22, 4, {"transactional_id": None, "transaction_timeout_ms": 1, "producer_id": -1,
                                 "producer_epoch": -1})
    t.pid, t.epoch = init["producer_id"], 3
    assert t.produce(topic, 0, b"a", b"b", transactional=False)["base_offset"] == 0
    assert t.produce(topic, 0, b"c", transactional=False)["base_offset"] == 2
    dup = t.produce(topic, 0, b"a", b"b", seq=0, transactional=False)
    assert (dup["error_code"], dup["base_offset"]) == (0, 0)
    assert t.produce(topic, 0, b"x", seq=7, transactional=False)["error_code"] == E.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert t.produce(topic, 0, b"x", seq=3, epoch=2, transactional=False)["error_code"] == E.INVALID_PRODUCER_EPOCH
    assert t.produce(topic, 0, b"x", seq=1, epoch=4, transactional=False)["error_code"] == E.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert t.produce(topic, 0, b"d", seq=0, epoch=4, transactional=False)["base_offset"] == 3
    assert latest(txn_broker.bootstrap, topic, 0) == 4


# -- transactions ---------------------------------------------------------------------------------------------


def test_transaction_flow_and_read_committed_fetch(raw, txn_broker: BrokerProcess) -> None:  # type: ignore[no-untyped-def]
    topic = unique("raw-txn")
    create_topics(txn_broker.bootstrap, (topic, 1))
    bs = txn_broker.bootstrap
    t = raw()
    assert t.init()["error_code"] == 0
    assert t.end(True) == E.INVALID_TXN_STATE  # nothing to end
    # a partition not added to the transaction (KIP-890 verification)
    assert t.produce(topic, 0, b"early")["error_code"] == E.INVALID_TXN_STATE
    assert t.produce(topic, 0, b"early", version=11)["error_code"] == E.TRANSACTION_ABORTABLE
    assert t.add((topic, 0), ("no-such-topic", 0)) == {(topic, 0): E.OPERATION_NOT_ATTEMPTED,
                                                      ("no-such-topic", 0): E.UNKNOWN_TOPIC_OR_PARTITION}
    assert t.add((topic, 0)) == {(topic, 0): 0}
    assert t.produce(topic, 0, b"t1", b"t2")["base_offset"] == 0
    with RawClient(bs) as c:  # plain data behind the open transaction
        c.request(0, 9, {"transactional_id": None, "acks": -1, "timeout_ms": 5000, "topic_data": [
            {"name": topic, "partition_data": [{"index": 0, "records": build_batch([Record(0, 0, None, b"p")])}]}]})
    assert latest(bs, topic, 1) == 0 and latest(bs, topic, 0) == 3
    committed_view = fetch(bs, topic, 1)
    assert committed_view["last_stable_offset"] == 0 and committed_view["high_watermark"] == 3
    assert not committed_view["records"] and committed_view["aborted_transactions"] == []
    assert fetch(bs, topic, 0)["aborted_transactions"] is None
    assert t.end(False) == 0
    assert t.end(False) == 0  # a retry of the same outcome
    assert t.end(True) == E.INVALID_TXN_STATE
    view = fetch(bs, topic, 1)
    assert view["last_stable_offset"] == view["high_watermark"] == 4
    assert batch_offsets(view["records"]) == [(0, False), (2, False), (3, True)]
    assert view["aborted_transactions"] == [{"producer_id": t.pid, "first_offset": 0}]
    # from the marker on, the transaction still overlaps (its last offset is the marker's), as in Kafka
    assert fetch(bs, topic, 1, offset=3)["aborted_transactions"] == [{"producer_id": t.pid, "first_offset": 0}]
    # the next transaction commits
    assert t.add((topic, 0)) == {(topic, 0): 0}
    t.produce(topic, 0, b"t3")
    assert t.end(True, epoch=t.epoch + 1) == E.PRODUCER_FENCED
    assert t.end(True, version=1, epoch=t.epoch + 1) == E.INVALID_PRODUCER_EPOCH
    assert t.end(True) == 0
    assert latest(bs, topic, 1) == 6
    assert fetch(bs, topic, 1, offset=4)["aborted_transactions"] == []


def test_init_producer_id_fences_an_open_transaction(raw, txn_broker: BrokerProcess) -> None:  # type: ignore[no-untyped-def]
    topic = unique("raw-fence")
    create_topics(txn_broker.bootstrap, (topic, 1))
    old = raw()
    old.init()
    old.add((topic, 0))
    old.produce(topic, 0, b"zombie")
    new = raw(txn_id=old.txn_id)
    assert new.init()["error_code"] == E.CONCURRENT_TRANSACTIONS  # the open transaction is being aborted
    resp = new.init()
    assert resp["error_code"] == 0 and resp["producer_id"] == old.pid and resp["producer_epoch"] == old.epoch + 2
    assert latest(txn_broker.bootstrap, topic, 1) == 2  # aborted (marker at 1)
    assert old.produce(topic, 0, b"late")["error_code"] == E.INVALID_PRODUCER_EPOCH
    assert old.end(True) == E.PRODUCER_FENCED
    assert old.add((topic, 0)) == {(topic, 0): E.PRODUCER_FENCED}
    assert old.add((topic, 0), version=1) == {(topic, 0): E.INVALID_PRODUCER_EPOCH}
    stranger = raw(txn_id=unique("nobody"))
    stranger.pid, stranger.epoch = old.pid, new.epoch
    assert stranger.end(True) == E.INVALID_PRODUCER_ID_MAPPING


def test_batched_add_partitions_and_verification(raw, txn_broker: BrokerProcess) -> None:  # type: ignore[no-untyped-def]
    topic = unique("raw-v4")
    create_topics(txn_broker.bootstrap, (topic, 2))
    a, b = raw(), raw()
    a.init()
    b.init()
    a.add((topic, 0))
    with RawClient(txn_broker.bootstrap) as c:
        resp = c.request(24, 4, {"transactions": [
            {"transactional_id": a.txn_id, "producer_id": a.pid, "producer_epoch": a.epoch, "verify_only": True,
             "topics": [{"name": topic, "partitions": [0, 1]}]},
            {"transactional_id": b.txn_id, "producer_id": b.pid, "producer_epoch": b.epoch, "verify_only": False,
             "topics": [{"name": topic, "partitions": [1]}]},
            {"transactional_id": b.txn_id, "producer_id": b.pid, "producer_epoch": b.epoch + 5, "verify_only": True,
             "topics": [{"name": topic, "partitions": [1]}]},
        ]})
    assert resp["error_code"] == 0
    got = [{(r["name"], p["partition_index"]): p["partition_error_code"] for r in t["topic_results"]
            for p in r["results_by_partition"]} for t in resp["results_by_transaction"]]
    assert got == [{(topic, 0): 0, (topic, 1): E.TRANSACTION_ABORTABLE}, {(topic, 1): 0},
                   {(topic, 1): E.PRODUCER_FENCED}]


def test_introspection(raw, txn_broker: BrokerProcess) -> None:  # type: ignore[no-untyped-def]
    topic = unique("raw-describe")
    create_topics(txn_broker.bootstrap, (topic, 2))
    t = raw(timeout_ms=30000)
    t.init()
    t.add((topic, 1), (topic, 0))
    t.produce(topic, 1, b"x", b"y")
    with RawClient(txn_broker.bootstrap) as c:
        described = c.request(65, 0, {"transactional_ids": [t.txn_id, "never-seen", ""]})["transaction_states"]
        assert described[0]["error_code"] == 0 and described[0]["transaction_state"] == "Ongoing"
        assert described[0]["topics"] == [{"topic": topic, "partitions": [0, 1]}]
        assert (described[0]["producer_id"], described[0]["producer_epoch"]) == (t.pid, t.epoch)
        assert described[0]["transaction_timeout_ms"] == 30000 and described[0]["transaction_start_time_ms"] > 0
        assert described[1]["error_code"] == E.TRANSACTIONAL_ID_NOT_FOUND
        assert described[2]["error_code"] == E.INVALID_REQUEST

        def listed(version: int, **body) -> dict:  # type: ignore[no-untyped-def]
            return c.request(66, version, {"state_filters": [], "producer_id_filters": [], **body})

        everything = listed(0)
        assert everything["error_code"] == 0
        assert {"transactional_id": t.txn_id, "producer_id": t.pid, "transaction_state": "Ongoing"} in \
            everything["transaction_states"]
        only = listed(0, state_filters=["Ongoing", "Bogus"], producer_id_filters=[t.pid])
        assert only["unknown_state_filters"] == ["Bogus"]
        assert [s["transactional_id"] for s in only["transaction_states"]] == [t.txn_id]
        assert listed(1, producer_id_filters=[t.pid], duration_filter=3_600_000)["transaction_states"] == []
        assert [s["transactional_id"] for s in listed(2, transactional_id_pattern=t.txn_id[:7] + ".*",
                                                       producer_id_filters=[t.pid])["transaction_states"]] == [t.txn_id]
        assert listed(2, transactional_id_pattern=t.txn_id[:7])["transaction_states"] == []  # whole id must match
        assert listed(2, transactional_id_pattern="(")["error_code"] == E.INVALID_REQUEST

        producers = c.request(61, 0, {"topics": [{"name": topic, "partition_indexes": [1, 0, 7]}]})["topics"][0]
        by_index = {p["partition_index"]: p for p in producers["partitions"]}
        assert by_index[7]["error_code"] == E.UNKNOWN_TOPIC_OR_PARTITION
        assert by_index[0]["active_producers"] == []
        (active,) = by_index[1]["active_producers"]
        assert (active["producer_id"], active["producer_epoch"], active["last_sequence"]) == (t.pid, t.epoch, 1)
        assert active["current_txn_start_offset"] == 0

        # an admin client aborting the transaction at the partition (KIP-664's abortTransaction)
        resp = c.request(27, 1, {"markers": [{"producer_id": t.pid, "producer_epoch": t.epoch,
                                              "transaction_result": False, "coordinator_epoch": 0,
                                              "topics": [{"name": topic, "partition_indexes": [1]}]}]})
        assert resp["markers"][0]["topics"][0]["partitions"] == [{"partition_index": 1, "error_code": 0}]
        producers = c.request(61, 0, {"topics": [{"name": topic, "partition_indexes": [1]}]})["topics"][0]
        assert producers["partitions"][0]["active_producers"][0]["current_txn_start_offset"] == -1
    assert latest(txn_broker.bootstrap, topic, 1, partition=1) == 3
    assert t.end(False) == 0


def test_txn_offset_commit(raw, txn_broker: BrokerProcess) -> None:  # type: ignore[no-untyped-def]
    topic, group = unique("raw-offsets"), unique("raw-group")
    create_topics(txn_broker.bootstrap, (topic, 1))
    t = raw()
    t.init()

    def commit(version: int, offset: int, **body) -> int:  # type: ignore[no-untyped-def]
        resp = t.c.request(28, version, {"transactional_id": t.txn_id, "group_id": group, "producer_id": t.pid,
                                         "producer_epoch": t.epoch, "generation_id": -1, "member_id": "",
                                         "group_instance_id": None, "topics": [{"name": topic, "partitions": [
                                             {"partition_index": 0, "committed_offset": offset,
                                              "committed_leader_epoch": -1, "committed_metadata": "m"}]}], **body})
        return resp["topics"][0]["partitions"][0]["error_code"]

    def fetched(require_stable: bool = False) -> tuple[int, int]:
        with RawClient(txn_broker.bootstrap) as c:
            resp = c.request(9, 7, {"group_id": group, "topics": [{"name": topic, "partition_indexes": [0]}],
                                    "require_stable": require_stable})
        p = resp["topics"][0]["partitions"][0]
        return p["committed_offset"], p["error_code"]

    assert commit(3, 5) == E.INVALID_TXN_STATE  # AddOffsetsToTxn first
    assert commit(4, 5) == E.TRANSACTION_ABORTABLE
    assert t.c.request(25, 3, {"transactional_id": t.txn_id, "producer_id": t.pid, "producer_epoch": t.epoch,
                               "group_id": group})["error_code"] == 0
    assert commit(3, 5, generation_id=4) == E.ILLEGAL_GENERATION  # no such group with members
    assert commit(3, 5, producer_epoch=t.epoch + 1) == E.INVALID_PRODUCER_EPOCH
    assert commit(3, 5) == 0
    assert fetched() == (-1, 0)  # not visible before the commit
    assert fetched(require_stable=True) == (-1, E.UNSTABLE_OFFSET_COMMIT)
    assert t.end(True) == 0
    assert fetched() == fetched(require_stable=True) == (5, 0)
    # an aborted transaction's offsets never become visible
    t.c.request(25, 3, {"transactional_id": t.txn_id, "producer_id": t.pid, "producer_epoch": t.epoch,
                        "group_id": group})
    assert commit(2, 9) == 0
    assert t.end(False) == 0
    assert fetched() == (5, 0)


def test_transactional_id_expiry_and_timeouts_are_configurable(tmp_path) -> None:
    b = BrokerProcess(tmp_path / "data", "--set", "transaction.max.timeout.ms=5000",
                      "--set", "transactional.id.expiration.ms=2000",
                      "--set", "transaction.remove.expired.transaction.cleanup.interval.ms=200").start()
    try:
        t = Txn(b.bootstrap, timeout_ms=6000)
        assert t.init()["error_code"] == E.INVALID_TRANSACTION_TIMEOUT
        t.timeout_ms = 5000
        before_init = time.monotonic()
        assert t.init()["error_code"] == 0

        def state() -> int:
            with RawClient(b.bootstrap) as c:
                return c.request(65, 0, {"transactional_ids": [t.txn_id]})["transaction_states"][0]["error_code"]

        # there, unless a loaded machine took 2 s to ask (then it may already be gone, but not sooner)
        first = state()
        assert first == 0 or (first == E.TRANSACTIONAL_ID_NOT_FOUND and time.monotonic() - before_init >= 2.0), first
        wait_until(lambda: state() == E.TRANSACTIONAL_ID_NOT_FOUND, 15, what="the idle transactional id to expire")
        t.close()
    finally:
        b.stop()


def test_idle_producers_expire(tmp_path) -> None:
    b = BrokerProcess(tmp_path / "data", "--set", "producer.id.expiration.ms=3000",
                      "--set", "producer.id.expiration.check.interval.ms=100").start()
    try:
        topic = unique("expire")
        create_topics(b.bootstrap, (topic, 1))
        t = Txn(b.bootstrap)
        with RawClient(b.bootstrap) as c:
            t.pid = c.request(22, 4, {"transactional_id": None, "transaction_timeout_ms": 1, "producer_id": -1,
                                      "producer_epoch": -1})["producer_id"]
        t.epoch = 0
        before_produce = time.monotonic()
        assert t.produce(topic, 0, b"a", transactional=False)["error_code"] == 0

        def producers() -> list:
            with RawClient(b.bootstrap) as c:
                resp = c.request(61, 0, {"topics": [{"name": topic, "partition_indexes": [0]}]})
            return resp["topics"][0]["partitions"][0]["active_producers"]

        listed = [p["producer_id"] for p in producers()]
        out_of_order = t.produce(topic, 0, b"x", seq=5, transactional=False)["error_code"]
        if time.monotonic() - before_produce < 3.0:  # else a loaded machine was slower than the expiry: it may be gone
            assert (listed, out_of_order) == ([t.pid], E.OUT_OF_ORDER_SEQUENCE_NUMBER)
        wait_until(lambda: producers() == [], 30, what="the idle producer to expire")
        assert t.produce(topic, 0, b"b", seq=5, transactional=False)["error_code"] == 0  # a stranger again
        t.close()
    finally:
        b.stop()
