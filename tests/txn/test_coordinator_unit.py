"""The transaction coordinator's state machine on its own (no broker: an in-memory store, a fake clock)."""
from __future__ import annotations

from kbroker.coordinator.records import partition_for
from kbroker.coordinator.transactions import TransactionCoordinator, TxnState
from kbroker.coordinator.transactions.records import (
    TxnLogValue,
    decode_key,
    decode_value,
    encode_key,
    encode_value,
)
from kbroker.coordinator.transactions.store import MemoryTxnStore
from wire.errors import ErrorCode as E


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


def make(**config):  # type: ignore[no-untyped-def]
    clock = Clock()
    store = MemoryTxnStore()
    return TransactionCoordinator(None, config=config, store=store, clock=clock), store, clock


def test_records_round_trip() -> None:
    value = TxnLogValue(7, 3, 60000, int(TxnState.ONGOING), {"a": [0, 2], "b": [1]}, 5, 4)
    assert decode_value(encode_value(value)) == value
    empty = TxnLogValue(7, 3, 60000, int(TxnState.EMPTY), None, 5, -1)
    assert decode_value(encode_value(empty)) == empty
    assert decode_key(encode_key("tx-é")) == "tx-é" and decode_value(None) is None
    assert 0 <= partition_for("any", 50) < 50 and partition_for("", 50) == 0


def test_lifecycle_and_errors() -> None:
    tc, store, clock = make()
    assert tc.init_producer_id("", 1000).error == E.INVALID_REQUEST
    assert tc.init_producer_id("t", 900001).error == E.INVALID_TRANSACTION_TIMEOUT
    first = tc.init_producer_id("t", 1000)
    assert (first.error, first.producer_epoch) == (0, 0)
    pid = first.producer_id
    assert tc.end_transaction("t", pid, 0, True) == E.INVALID_TXN_STATE
    assert tc.add_partitions("t", pid + 1, 0, [("x", 0)]) == E.INVALID_PRODUCER_ID_MAPPING
    assert tc.add_partitions("t", pid, 1, [("x", 0)]) == E.PRODUCER_FENCED
    assert tc.add_partitions("t", pid, 0, [("x", 0)]) == 0
    assert tc.txns["t"].state == TxnState.ONGOING and tc.txns["t"].start_ms == clock.now
    assert tc.verify_partitions("t", pid, 0, [("x", 0), ("x", 1)]) == {("x", 0): 0, ("x", 1): E.TRANSACTION_ABORTABLE}
    assert tc.end_transaction("t", pid, 0, True) == 0
    assert tc.txns["t"].state == TxnState.COMPLETE_COMMIT and tc.txns["t"].partitions == frozenset()
    assert tc.end_transaction("t", pid, 0, True) == 0 and tc.end_transaction("t", pid, 0, False) == E.INVALID_TXN_STATE
    states = [TxnState(v.status) for _, v in store.records if v is not None]
    assert states == [TxnState.EMPTY, TxnState.ONGOING, TxnState.PREPARE_COMMIT, TxnState.COMPLETE_COMMIT]


def test_fencing_timeouts_and_reload() -> None:
    tc, store, clock = make(**{"transactional.id.expiration.ms": 10_000})
    r = tc.init_producer_id("t", 1000)
    tc.add_partitions("t", r.producer_id, r.producer_epoch, [("x", 0)])
    assert tc.init_producer_id("t", 1000).error == E.CONCURRENT_TRANSACTIONS  # the open one gets aborted
    assert tc.txns["t"].state == TxnState.COMPLETE_ABORT and tc.txns["t"].producer_epoch == 1
    again = tc.init_producer_id("t", 1000)
    assert (again.error, again.producer_epoch) == (0, 2)
    tc.add_partitions("t", again.producer_id, 2, [("x", 0)])
    clock.now += 999
    assert tc.abort_timed_out_transactions() == []
    clock.now += 2
    assert tc.abort_timed_out_transactions() == ["t"]
    assert tc.txns["t"].state == TxnState.COMPLETE_ABORT and tc.txns["t"].producer_epoch == 3
    assert tc.end_transaction("t", again.producer_id, 2, True) == E.PRODUCER_FENCED
    # a coordinator reading the same store knows everything; one caught half way finishes the transaction
    r2 = tc.init_producer_id("u", 1000)
    tc.add_partitions("u", r2.producer_id, 0, [("y", 1)])
    prepared = store.records[-1][1]
    prepared.status = int(TxnState.PREPARE_COMMIT)
    store.records.append(("u", prepared))
    reloaded = TransactionCoordinator(None, config={"transactional.id.expiration.ms": "10000"}, store=store,
                                      clock=clock)
    reloaded.load()
    assert reloaded.txns["t"].producer_epoch == 3
    assert reloaded.txns["u"].state == TxnState.COMPLETE_COMMIT
    clock.now += 20_000
    assert sorted(reloaded.expire_transactional_ids()) == ["t", "u"]
    assert sorted(store.records[-2:]) == [("t", None), ("u", None)]
    assert TransactionCoordinator(None, config={}, store=store).describe("t")["error_code"] == \
        E.TRANSACTIONAL_ID_NOT_FOUND


def test_epoch_exhaustion_rotates_the_producer_id() -> None:
    tc, store, clock = make()
    r = tc.init_producer_id("t", 1000)
    from dataclasses import replace

    tc.txns["t"] = replace(tc.txns["t"], producer_epoch=32766)
    rotated = tc.init_producer_id("t", 1000, r.producer_id, 32766)
    assert rotated.error == 0 and rotated.producer_id != r.producer_id and rotated.producer_epoch == 0
    assert tc.txns["t"].previous_producer_id == r.producer_id
    # the retry of that rotation by a producer that never saw the answer (KIP-360) gets the same answer
    retry = tc.init_producer_id("t", 1000, r.producer_id, 32766)
    assert (retry.error, retry.producer_id, retry.producer_epoch) == (0, rotated.producer_id, 0)
    assert tc.init_producer_id("t", 1000, r.producer_id, 5).error == E.PRODUCER_FENCED


def test_list_and_describe() -> None:
    tc, store, clock = make()
    for name in ("a-1", "a-2", "b-1"):
        r = tc.init_producer_id(name, 5000)
        if name != "b-1":
            tc.add_partitions(name, r.producer_id, 0, [("x", 0)])
    error, unknown, listed = tc.list_transactions(["Ongoing", "Nope"], pattern="a-.*")
    assert (error, unknown) == (0, ["Nope"]) and [t["transactional_id"] for t in listed] == ["a-1", "a-2"]
    assert tc.describe("b-1")["transaction_state"] == "Empty"
    assert tc.describe("zzz")["error_code"] == E.TRANSACTIONAL_ID_NOT_FOUND
