"""Producer state beside the log: idempotence (sequences, epochs, duplicates), transactions (last stable offset,
markers, the transaction index), snapshots and their use at start-up, expiration, truncation."""
from __future__ import annotations

import time

import pytest

from kbroker.log import Log, LogConfig
from kbroker.log.loader import CLEAN_SHUTDOWN_FILE
from kbroker.log.producer_state import (
    AppendOrigin,
    CorruptSnapshotError,
    ProducerStateEntry,
    BatchMetadata,
    read_snapshot,
    snapshot_file_name,
    write_snapshot,
)
from kbroker.log.storage import Directory
from wire.errors import ErrorCode, KafkaError
from wire.records import Record, build_batch, build_control_batch, iter_batches

NOW = time.time_ns() // 1_000_000  # producer state expires by batch timestamps against the clock
SMALL = dict(segment_bytes=700, index_interval_bytes=64)


def batch(pid: int = 7, epoch: int = 0, seq: int = 0, n: int = 1, *, txn: bool = False, ts: int = NOW) -> bytes:
    return build_batch([Record(i, 0, None, b"v%d" % (seq + i)) for i in range(n)], base_timestamp=ts,
                       producer_id=pid, producer_epoch=epoch, base_sequence=seq, transactional=txn)


def plain(n: int = 1) -> bytes:
    return build_batch([Record(i, 0, None, b"p") for i in range(n)], base_timestamp=NOW)


def marker(commit: bool, pid: int = 7, epoch: int = 0, coordinator_epoch: int = 0) -> bytes:
    return build_control_batch(commit, producer_id=pid, producer_epoch=epoch, coordinator_epoch=coordinator_epoch,
                               timestamp=NOW)


def append(log: Log, data: bytes, origin: AppendOrigin = AppendOrigin.CLIENT):  # type: ignore[no-untyped-def]
    info = log.append(data, leader_epoch=0, now_ms=NOW, origin=origin)
    log.high_watermark = log.log_end_offset
    return info


def end_txn(log: Log, commit: bool, pid: int = 7, epoch: int = 0, coordinator_epoch: int = 0):  # type: ignore[no-untyped-def]
    return append(log, marker(commit, pid, epoch, coordinator_epoch), AppendOrigin.COORDINATOR)


def error_of(call) -> int:  # type: ignore[no-untyped-def]
    with pytest.raises(KafkaError) as exc:
        call()
    return exc.value.code


def values(log: Log, start: int = 0) -> list[bytes]:
    out = []
    offset = start
    while offset < log.log_end_offset:
        info = log.read(offset, 1 << 20)
        if not info.records:
            break
        from wire.records import decode_records

        data = bytes(info.records)
        for pos, header in iter_batches(data):
            if not header.is_control:
                out += [r.value for r in decode_records(data[pos : pos + header.size])]
        offset = info.next_offset
    return out


# -- idempotence ---------------------------------------------------------------------------------------------


def test_sequences_in_order_are_accepted_and_duplicates_answered_with_the_first_offsets(directory: Directory) -> None:
    log = Log.open(directory, LogConfig())
    first = append(log, batch(seq=0, n=2))
    second = append(log, batch(seq=2, n=3))
    assert (first.first_offset, second.first_offset) == (0, 2)
    again = append(log, batch(seq=0, n=2))
    assert again.duplicate and (again.first_offset, again.last_offset) == (0, 1)
    again = append(log, batch(seq=2, n=3))
    assert again.duplicate and (again.first_offset, again.last_offset) == (2, 4)
    assert log.log_end_offset == 5
    assert values(log) == [b"v0", b"v1", b"v2", b"v3", b"v4"]


def test_out_of_order_sequence_and_old_epoch_are_refused(directory: Directory) -> None:
    log = Log.open(directory, LogConfig())
    append(log, batch(seq=0))
    assert error_of(lambda: append(log, batch(seq=2))) == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    append(log, batch(epoch=1, seq=0))  # a new epoch starts at 0
    assert error_of(lambda: append(log, batch(epoch=0, seq=1))) == ErrorCode.INVALID_PRODUCER_EPOCH
    assert error_of(lambda: append(log, batch(epoch=2, seq=5))) == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert log.log_end_offset == 2  # nothing refused was written


def test_unknown_producer_may_start_anywhere_and_sequences_wrap(directory: Directory) -> None:
    log = Log.open(directory, LogConfig())
    append(log, batch(seq=2**31 - 2, n=2))  # a producer this partition has not seen (KIP-360)
    append(log, batch(seq=0))  # after Integer.MAX_VALUE comes 0
    assert log.log_end_offset == 3


def test_only_the_last_five_batches_are_deduplicated(directory: Directory) -> None:
    log = Log.open(directory, LogConfig())
    for seq in range(6):
        append(log, batch(seq=seq))
    assert append(log, batch(seq=1)).duplicate
    assert error_of(lambda: append(log, batch(seq=0))) == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER


def test_producers_do_not_interfere_and_plain_batches_are_untouched(directory: Directory) -> None:
    log = Log.open(directory, LogConfig())
    append(log, batch(pid=1, seq=0))
    append(log, plain())
    append(log, batch(pid=2, seq=0))
    append(log, plain())
    assert append(log, batch(pid=1, seq=0)).duplicate
    assert not append(log, plain()).duplicate
    assert sorted(log.producer_state.producers) == [1, 2]


# -- transactions --------------------------------------------------------------------------------------------


def test_last_stable_offset_follows_open_transactions(directory: Directory) -> None:
    log = Log.open(directory, LogConfig())
    append(log, plain(2))
    assert log.last_stable_offset == 2
    append(log, batch(pid=1, txn=True))  # offset 2 opens producer 1's transaction
    append(log, batch(pid=2, txn=True))  # offset 3
    append(log, plain())
    assert log.last_stable_offset == 2 and log.high_watermark == 5
    end_txn(log, True, pid=1)  # offset 5
    assert log.last_stable_offset == 3
    end_txn(log, False, pid=2)  # offset 6
    assert log.last_stable_offset == log.high_watermark == 7
    aborted = log.collect_aborted_transactions(0, 7)
    assert [(a.producer_id, a.first_offset, a.last_offset) for a in aborted] == [(2, 3, 6)]
    assert aborted[0].last_stable_offset == 7
    assert log.collect_aborted_transactions(7, 8) == []


def test_transaction_rules(directory: Directory) -> None:
    log = Log.open(directory, LogConfig())
    append(log, batch(pid=1, epoch=3, txn=True))
    assert error_of(lambda: append(log, batch(pid=1, epoch=3, seq=1))) == ErrorCode.INVALID_TXN_STATE
    assert error_of(lambda: end_txn(log, False, pid=1, epoch=2)) == ErrorCode.INVALID_PRODUCER_EPOCH
    end_txn(log, False, pid=1, epoch=4, coordinator_epoch=5)  # a fencing abort: bumped epoch
    assert error_of(lambda: append(log, batch(pid=1, epoch=3, seq=1, txn=True))) == ErrorCode.INVALID_PRODUCER_EPOCH
    assert error_of(lambda: end_txn(log, True, pid=1, epoch=4, coordinator_epoch=4)) == \
        ErrorCode.TRANSACTION_COORDINATOR_FENCED
    assert log.last_stable_offset == log.log_end_offset


def test_marker_without_data_leaves_no_index_entry(directory: Directory) -> None:
    log = Log.open(directory, LogConfig())
    end_txn(log, False, pid=9)
    assert log.collect_aborted_transactions(0, 10) == []
    assert log.last_stable_offset == 1


def test_aborted_transactions_are_found_across_segments(directory: Directory) -> None:
    log = Log.open(directory, LogConfig(**SMALL))
    for i in range(6):
        append(log, batch(pid=1, seq=2 * i, n=2, txn=True))
        append(log, plain(3))
        end_txn(log, i % 2 == 0, pid=1)
    assert log.segments > 2
    aborted = log.collect_aborted_transactions(0, log.log_end_offset)
    assert [a.first_offset for a in aborted] == [6, 18, 30]
    middle = log.collect_aborted_transactions(19, 25)
    assert [a.first_offset for a in middle] == [18]


# -- start-up ------------------------------------------------------------------------------------------------


def _build_state(log: Log) -> None:
    for seq in range(0, 12, 2):
        append(log, batch(pid=1, seq=seq, n=2))
    append(log, batch(pid=2, txn=True))
    end_txn(log, False, pid=2)
    append(log, batch(pid=3, txn=True))  # left open


@pytest.mark.parametrize("clean", [True, False])
def test_state_survives_a_restart(directory: Directory, clean: bool) -> None:
    config = LogConfig(**SMALL)
    log = Log.open(directory, config)
    _build_state(log)
    end = log.log_end_offset
    open_at = end - 1
    if clean:
        log.close()
        assert directory.exists(snapshot_file_name(end))
    again = Log.open(directory, config)
    assert again.log_end_offset == end
    dup = append(again, batch(pid=1, seq=10, n=2))
    assert dup.duplicate and dup.first_offset == 10
    assert append(again, batch(pid=1, seq=6, n=2)).duplicate  # five batches, not just the last
    assert error_of(lambda: append(again, batch(pid=1, seq=13))) == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert again.last_stable_offset == open_at
    assert [a.producer_id for a in again.collect_aborted_transactions(0, end)] == [2]
    end_txn(again, True, pid=3)
    assert again.last_stable_offset == again.log_end_offset


def test_unclean_restart_rebuilds_the_transaction_index(directory: Directory) -> None:
    config = LogConfig(**SMALL, flush_on_roll=False)
    log = Log.open(directory, config)
    for i in range(4):
        append(log, batch(pid=5, seq=i, txn=True))
        append(log, plain(4))
        end_txn(log, False, pid=5)
    expected = [(a.first_offset, a.last_offset) for a in log.collect_aborted_transactions(0, log.log_end_offset)]
    assert len(expected) == 4
    for name in directory.list():  # lose every index, as a crash before any flush may
        if name.endswith((".txnindex", ".snapshot")):
            directory.delete(name)
    again = Log.open(directory, config)
    assert not again.had_clean_shutdown
    got = [(a.first_offset, a.last_offset) for a in again.collect_aborted_transactions(0, again.log_end_offset)]
    assert got == expected
    assert again.producer_state.last_entry(5).last_seq == 3
    assert not append(again, batch(pid=5, seq=4, txn=True)).duplicate  # the sequence goes on


def test_clean_log_without_snapshot_is_not_scanned(directory: Directory) -> None:
    """A log written before producer state existed (clean shutdown, no snapshot): Kafka's upgrade rule."""
    config = LogConfig()
    log = Log.open(directory, config)
    append(log, batch(pid=1, seq=0))
    log.close()
    for name in directory.list():
        if name.endswith(".snapshot"):
            directory.delete(name)
    again = Log.open(directory, config)
    assert again.producer_state.producers == {}
    assert directory.exists(snapshot_file_name(1))
    append(again, batch(pid=1, seq=5))  # unknown again: any sequence


def test_crash_after_a_roll_replays_from_the_segment_snapshot(directory: Directory) -> None:
    config = LogConfig(**SMALL)
    log = Log.open(directory, config)
    for seq in range(20):
        append(log, batch(pid=4, seq=seq))
    assert log.segments > 1
    snaps = log.producer_state.snapshot_offsets
    assert snaps and all(s in [seg.base_offset for seg in log.log_segments] for s in snaps)
    directory.delete(CLEAN_SHUTDOWN_FILE)
    again = Log.open(directory, config)
    assert again.producer_state.last_entry(4).last_seq == 19
    assert append(again, batch(pid=4, seq=19)).duplicate


def test_truncation_reloads_state(directory: Directory) -> None:
    log = Log.open(directory, LogConfig(**SMALL))
    for seq in range(10):
        append(log, batch(pid=4, seq=seq))
    log.truncate_to(6)
    assert log.producer_state.last_entry(4).last_seq == 5
    append(log, batch(pid=4, seq=6))
    log.truncate_fully_and_start_at(100)
    assert log.producer_state.producers == {}


# -- expiration and snapshots ----------------------------------------------------------------------------------


def test_idle_producers_expire_but_not_with_an_open_transaction(directory: Directory) -> None:
    log = Log.open(directory, LogConfig())
    append(log, batch(pid=1, seq=0, ts=NOW - 10_000))
    append(log, batch(pid=2, seq=0, ts=NOW - 10_000, txn=True))
    append(log, batch(pid=3, seq=0, ts=NOW))
    assert log.remove_expired_producers(NOW, 5_000) == 1
    assert sorted(log.producer_state.producers) == [2, 3]
    append(log, batch(pid=1, seq=42))  # forgotten: starts anywhere


def test_snapshot_format_round_trip_and_kafka_reading() -> None:
    entry = ProducerStateEntry(5, 3, 2, NOW, 40)
    for i in range(7):
        entry.add_batch(3, 2 * i + 1, 10 + 2 * i, 1, NOW + i)
    other = ProducerStateEntry(6, 0, -1, NOW)  # only a marker seen: no batch
    data = write_snapshot([entry, other])
    back = {e.producer_id: e for e in read_snapshot(data)}
    assert list(back[5].batches) == list(entry.batches)
    assert entry.batches[-1] == BatchMetadata(13, 22, 1, NOW + 6)
    assert back[5].current_txn_first_offset == 40 and back[5].coordinator_epoch == 2
    assert back[6].batches == type(back[6].batches)() and back[6].last_timestamp == NOW
    # Kafka keeps the last entry of each producer id: exactly the newest batch
    import struct

    count = struct.unpack_from(">i", data, 6)[0]
    assert count == 6
    with pytest.raises(CorruptSnapshotError):
        read_snapshot(data[:-1])
    with pytest.raises(CorruptSnapshotError):
        read_snapshot(data[:10] + bytes([data[10] ^ 1]) + data[11:])


# -- the transaction index ---------------------------------------------------------------------------------------


def test_transaction_index_file(directory: Directory) -> None:
    from kbroker.log.txn_index import ENTRY_SIZE, AbortedTxn, TransactionIndex

    index = TransactionIndex(directory, "00000000000000000000.txnindex")
    assert index.entries == [] and not directory.exists(index.name)  # no file until the first entry
    for i in range(4):
        index.append(AbortedTxn(i, 10 * i, 10 * i + 5, 10 * i + 6))
    with pytest.raises(ValueError):
        index.append(AbortedTxn(9, 0, 3, 4))  # must end after the last one
    index.close()
    storage = directory.open(index.name)
    storage.append(b"\x00\x00\x01")  # a torn write
    storage.close()
    again = TransactionIndex(directory, index.name)
    assert [e.producer_id for e in again.entries] == [0, 1, 2, 3]
    assert len(directory.read_bytes(index.name) or b"") == 4 * ENTRY_SIZE
    found = again.collect_aborted(12, 21)
    assert [e.producer_id for e in found.aborted] == [1, 2] and found.complete
    assert not again.collect_aborted(40, 100).complete
    again.truncate_to(25)
    assert [e.producer_id for e in again.entries] == [0, 1]
    again.reset()
    assert again.entries == [] and directory.read_bytes(index.name) == b""
