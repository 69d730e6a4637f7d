"""Restarts: transaction state, the last stable offset, aborted transactions and deduplication survive a clean
stop and a kill -9, in the middle of a transaction and after it."""
from __future__ import annotations

import pytest

from tests.conftest import BrokerProcess
from tests.rawclient import RawClient
from wire.errors import ErrorCode
from wire.records import Record, build_batch

from .conftest import FAST_TXN, create_topics, read_values, unique, wait_until

confluent_kafka = pytest.importorskip("confluent_kafka")
from confluent_kafka import Producer  # noqa: E402

pytestmark = pytest.mark.timeout(120)


def _list_offsets(bootstrap: str, topic: str, isolation: int) -> int:
    with RawClient(bootstrap) as c:
        resp = c.request(2, 5, {"replica_id": -1, "isolation_level": isolation, "topics": [
            {"name": topic, "partitions": [{"partition_index": 0, "current_leader_epoch": -1, "timestamp": -1}]}]})
    return resp["topics"][0]["partitions"][0]["offset"]


def _describe(bootstrap: str, txn_id: str) -> dict:
    with RawClient(bootstrap) as c:
        return c.request(65, 0, {"transactional_ids": [txn_id]})["transaction_states"][0]


@pytest.mark.parametrize("kill", [False, True], ids=["clean-stop", "kill-9"])
def test_restart_in_the_middle_of_a_transaction_and_after_it(tmp_path, kill: bool) -> None:
    data = tmp_path / "data"
    b = BrokerProcess(data, *FAST_TXN).start()
    topic, txn_id = unique("restart-txn"), unique("restart-tx")
    try:
        create_topics(b.bootstrap, (topic, 1))
        p = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": txn_id})
        p.init_transactions(20)
        p.begin_transaction()
        p.produce(topic, b"committed-1", partition=0)
        p.commit_transaction(20)
        p.begin_transaction()
        p.produce(topic, b"aborted-1", partition=0)
        p.flush(20)
        p.abort_transaction(20)
        p.begin_transaction()
        p.produce(topic, b"open-1", partition=0)
        p.flush(20)
        assert _describe(b.bootstrap, txn_id)["transaction_state"] == "Ongoing"
        open_at = _list_offsets(b.bootstrap, topic, 1)
        assert open_at == 4  # committed-1, its marker, aborted-1, its marker; open-1 is at 4
    finally:
        b.kill() if kill else b.stop()

    b = BrokerProcess(data, *FAST_TXN, port=b.port).start()  # the same address: the producer reconnects
    try:
        state = _describe(b.bootstrap, txn_id)
        assert state["transaction_state"] == "Ongoing" and state["topics"] == [{"topic": topic, "partitions": [0]}]
        assert _list_offsets(b.bootstrap, topic, 1) == open_at  # the open transaction still holds the LSO
        assert read_values(b.bootstrap, [(topic, 0)], "read_committed") == [b"committed-1"]
        # the producer carries on with the broker that came back and commits its transaction
        p.produce(topic, b"open-2", partition=0)
        p.commit_transaction(30)
        assert read_values(b.bootstrap, [(topic, 0)], "read_committed") == [b"committed-1", b"open-1", b"open-2"]
        assert _describe(b.bootstrap, txn_id)["transaction_state"] == "CompleteCommit"
    finally:
        b.kill() if kill else b.stop()

    b = BrokerProcess(data, *FAST_TXN).start()
    try:
        assert read_values(b.bootstrap, [(topic, 0)], "read_committed") == [b"committed-1", b"open-1", b"open-2"]
        everything = read_values(b.bootstrap, [(topic, 0)], "read_uncommitted")
        assert everything == [b"committed-1", b"aborted-1", b"open-1", b"open-2"]
        assert _describe(b.bootstrap, txn_id)["transaction_state"] == "CompleteCommit"
        p2 = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": txn_id})
        p2.init_transactions(20)
        state = _describe(b.bootstrap, txn_id)
        assert state["producer_epoch"] >= 1 and state["transaction_state"] == "Empty"
    finally:
        b.stop()


def _produce_raw(bootstrap: str, topic: str, pid: int, epoch: int, seq: int, value: bytes) -> dict:
    batch = build_batch([Record(0, 0, None, value)], producer_id=pid, producer_epoch=epoch, base_sequence=seq)
    with RawClient(bootstrap) as c:
        resp = c.request(0, 9, {"transactional_id": None, "acks": -1, "timeout_ms": 5000, "topic_data": [
            {"name": topic, "partition_data": [{"index": 0, "records": batch}]}]})
    return resp["responses"][0]["partition_responses"][0]


@pytest.mark.parametrize("kill", [False, True], ids=["clean-stop", "kill-9"])
def test_deduplication_survives_a_restart(tmp_path, kill: bool) -> None:
    data = tmp_path / "data"
    b = BrokerProcess(data).start()
    topic = unique("restart-idem")
    try:
        create_topics(b.bootstrap, (topic, 1))
        with RawClient(b.bootstrap) as c:
            init = c.request(22, 4, {"transactional_id": None, "transaction_timeout_ms": 60000,
                                     "producer_id": -1, "producer_epoch": -1})
        pid, epoch = init["producer_id"], init["producer_epoch"]
        offsets = [_produce_raw(b.bootstrap, topic, pid, epoch, seq, b"v%d" % seq)["base_offset"] for seq in range(6)]
        assert offsets == list(range(6))
    finally:
        b.kill() if kill else b.stop()
    b = BrokerProcess(data).start()
    try:
        for seq in (1, 3, 5):  # retries of the last five batches are answered with their first offsets
            resp = _produce_raw(b.bootstrap, topic, pid, epoch, seq, b"v%d" % seq)
            assert (resp["error_code"], resp["base_offset"]) == (0, seq)
        resp = _produce_raw(b.bootstrap, topic, pid, epoch, 8, b"gap")
        assert resp["error_code"] == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
        assert _produce_raw(b.bootstrap, topic, pid, epoch, 6, b"v6")["base_offset"] == 6
        assert read_values(b.bootstrap, [(topic, 0)], "read_uncommitted") == [b"v%d" % i for i in range(7)]
    finally:
        b.stop()


def test_transaction_left_open_by_a_crash_is_aborted_after_restart(tmp_path) -> None:
    data = tmp_path / "data"
    b = BrokerProcess(data, *FAST_TXN).start()
    topic = unique("restart-timeout")
    try:
        create_topics(b.bootstrap, (topic, 1))
        p = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": unique("crash-tx"),
                      "transaction.timeout.ms": 2000})
        p.init_transactions(20)
        p.begin_transaction()
        p.produce(topic, b"lost", partition=0)
        p.flush(20)
    finally:
        b.kill()
    b = BrokerProcess(data, *FAST_TXN).start()
    try:
        plain = Producer({"bootstrap.servers": b.bootstrap})
        plain.produce(topic, b"kept", partition=0)
        assert plain.flush(20) == 0
        wait_until(lambda: _list_offsets(b.bootstrap, topic, 1) == 3, 20, what="the expired transaction's abort")
        assert read_values(b.bootstrap, [(topic, 0)], "read_committed") == [b"kept"]
    finally:
        b.stop()
