"""The share-partition state machine alone: acquisition, locks, acknowledgement types, delivery limit, gaps,
snapshots and the __share_group_state record codec (no sockets)."""
from __future__ import annotations

from kbroker.coordinator.share.partition_state import (
    ACK_ACCEPT,
    ACK_REJECT,
    ACK_RELEASE,
    ACK_RENEW,
    ACKNOWLEDGED,
    ARCHIVED,
    AVAILABLE,
    LogBatch,
    SharePartitionState,
    ranges,
)
from kbroker.coordinator.share.store import ShareStateRecord, decode, encode_key, encode_value
from wire.errors import ErrorCode


def _acquire(state: SharePartitionState, member: str, first: int, last: int, *, now: int = 0, max_records: int = 1000,
             skip: bool = False) -> list[int]:
    return state.acquire([LogBatch(first, last, skip)], member, deadline_ms=now + 100, max_records=max_records,
                         max_locks=1000)


def _ack(state: SharePartitionState, member: str, first: int, last: int, kind: int, *, limit: int = 5,
         now: int = 0) -> int:
    return state.acknowledge(member, [(first, last, [kind])], now_ms=now, delivery_limit=limit, lock_ms=100,
                             renew_allowed=True)


def test_accept_moves_the_start_offset_and_release_makes_available_again() -> None:
    s = SharePartitionState(10)
    assert _acquire(s, "a", 10, 19) == list(range(10, 20))
    assert _ack(s, "a", 10, 14, ACK_ACCEPT) == 0
    assert s.start_offset == 15
    assert _ack(s, "a", 15, 16, ACK_RELEASE) == 0
    assert _acquire(s, "b", 10, 19) == [15, 16]  # the window's available records; 17-19 are still a's
    assert s.records[15].delivery_count == 2
    assert _ack(s, "a", 15, 15, ACK_ACCEPT) == ErrorCode.INVALID_RECORD_STATE  # b holds it now


def test_reject_archives_and_never_comes_back() -> None:
    s = SharePartitionState(0)
    _acquire(s, "a", 0, 4)
    assert _ack(s, "a", 2, 2, ACK_REJECT) == 0
    assert s.records[2].state == ARCHIVED
    s.release_member("a", 5)
    assert _acquire(s, "b", 0, 4) == [0, 1, 3, 4]


def test_lock_expiry_and_delivery_limit() -> None:
    s = SharePartitionState(0)
    _acquire(s, "a", 0, 0, now=0)
    assert not s.expire_locks(50, delivery_limit=2)
    assert s.expire_locks(100, delivery_limit=2)
    assert s.records[0].state == AVAILABLE
    assert _acquire(s, "b", 0, 0, now=100) == [0]
    assert s.expire_locks(200, delivery_limit=2)  # second delivery reached the limit: archived
    assert s.start_offset == 1 and not s.records


def test_renew_extends_the_lock() -> None:
    s = SharePartitionState(0)
    _acquire(s, "a", 0, 0, now=0)
    assert _ack(s, "a", 0, 0, ACK_RENEW, now=90) == 0
    assert not s.expire_locks(150, delivery_limit=5)
    assert s.expire_locks(190, delivery_limit=5)


def test_gaps_and_skipped_batches_are_finished() -> None:
    s = SharePartitionState(0)
    got = s.acquire([LogBatch(0, 1, False), LogBatch(2, 2, True), LogBatch(5, 6, False)], "a", deadline_ms=10,
                    max_records=10, max_locks=10)
    assert got == [0, 1, 5, 6]
    assert s.acknowledge("a", [(0, 6, [1, 1, 0, 0, 0, 1, 1])], now_ms=0, delivery_limit=5, lock_ms=10,
                         renew_allowed=False) == 0
    assert s.start_offset == 7


def test_bad_acknowledgements_change_nothing() -> None:
    s = SharePartitionState(0)
    _acquire(s, "a", 0, 3)
    assert s.acknowledge("a", [(0, 3, [1, 1])], now_ms=0, delivery_limit=5, lock_ms=10, renew_allowed=False) \
        == ErrorCode.INVALID_REQUEST
    assert s.acknowledge("a", [(0, 0, [1]), (9, 9, [1])], now_ms=0, delivery_limit=5, lock_ms=10,
                         renew_allowed=False) == ErrorCode.INVALID_RECORD_STATE
    assert s.records[0].state != ACKNOWLEDGED
    assert _ack(s, "a", 0, 0, ACK_RENEW) == 0
    assert s.acknowledge("a", [(0, 0, [4])], now_ms=0, delivery_limit=5, lock_ms=10, renew_allowed=False) \
        == ErrorCode.INVALID_REQUEST


def test_max_records_and_locks() -> None:
    s = SharePartitionState(0)
    assert _acquire(s, "a", 0, 99, max_records=10) == list(range(10))
    assert s.acquire([LogBatch(0, 99, False)], "b", deadline_ms=1, max_records=100, max_locks=15) == list(range(10, 15))


def test_snapshot_round_trip_through_the_record_codec() -> None:
    s = SharePartitionState(0, state_epoch=3)
    _acquire(s, "a", 0, 9)
    _ack(s, "a", 0, 1, ACK_ACCEPT)
    _ack(s, "a", 3, 3, ACK_ACCEPT)
    _ack(s, "a", 4, 4, ACK_REJECT)
    record = ShareStateRecord("g", bytes(range(16)), 2, s.start_offset, s.state_epoch, 0, tuple(s.batches()))
    back = decode(encode_key(record), encode_value(record))
    assert back is not None and (back.group_id, back.topic_id, back.partition) == ("g", bytes(range(16)), 2)
    restored = SharePartitionState.restore(back.start_offset, back.batches or (), state_epoch=back.state_epoch)
    assert restored.start_offset == 2 and restored.next_offset == 10 and restored.state_epoch == 3
    assert {o: (r.state, r.delivery_count) for o, r in restored.records.items()} == {
        2: (AVAILABLE, 1), 3: (ACKNOWLEDGED, 1), 4: (ARCHIVED, 1), 5: (AVAILABLE, 1), 6: (AVAILABLE, 1),
        7: (AVAILABLE, 1), 8: (AVAILABLE, 1), 9: (AVAILABLE, 1)}
    tomb = ShareStateRecord("g", bytes(16), 0, deleted=True)
    assert encode_value(tomb) is None and decode(encode_key(tomb), None).deleted


def test_ranges_group_equal_delivery_counts() -> None:
    assert list(ranges([1, 2, 3, 5, 6], {1: 1, 2: 1, 3: 2, 5: 2, 6: 2})) == [(1, 2, 1), (3, 3, 2), (5, 6, 2)]
