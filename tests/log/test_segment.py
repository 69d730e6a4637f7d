"""LogSegment: append with sparse index entries, reads of whole batches, lookups, truncation, lazy indexes."""
from __future__ import annotations

import pytest

from kbroker.log.config import LogConfig
from kbroker.log.segment import LogSegment, parse_segment_file_name, segment_file_name
from kbroker.log.storage import Directory

from .helpers import as_stored, headers, make_batch

BASE = 50


def fill(segment: LogSegment, count: int, records: int = 3, value_size: int = 20, ts0: int = 1000) -> list[bytes]:
    """Append count batches of `records` records; returns the stored bytes of each."""
    stored = []
    offset = segment.base_offset if segment.size == 0 else segment.read_next_offset()
    for i in range(count):
        data = as_stored(make_batch(records, value_size=value_size, timestamp=ts0 + 10 * i), offset, 0)
        last = offset + records - 1
        segment.append(data, largest_offset=last, largest_timestamp=ts0 + 10 * i + records - 1, offset_of_max_timestamp=last)
        stored.append(data)
        offset = last + 1
    return stored


def new_segment(directory: Directory, **config: int) -> LogSegment:
    return LogSegment.create(directory, BASE, LogConfig(**{"index_interval_bytes": 100, **config}))


def test_file_names() -> None:
    assert segment_file_name(42, ".log") == "00000000000000000042.log"
    assert parse_segment_file_name("00000000000000000042.timeindex") == (42, ".timeindex")
    assert parse_segment_file_name("leader-epoch-checkpoint") is None
    assert parse_segment_file_name("00000000000000000042.log.deleted") == (42, ".log.deleted")


def test_append_builds_sparse_index(directory: Directory) -> None:
    segment = new_segment(directory)
    stored = fill(segment, 20)
    size = len(stored[0])
    assert segment.size == 20 * size
    # one entry each time more than 100 bytes went by since the last
    assert 0 < segment.offset_index.entries < 20
    assert segment.time_index.entries == segment.offset_index.entries
    assert segment.read_next_offset() == BASE + 60
    assert segment.max_timestamp == 1000 + 190 + 2
    assert segment.offset_of_max_timestamp == BASE + 59


def test_translate_and_read(directory: Directory) -> None:
    segment = new_segment(directory)
    stored = fill(segment, 20)
    for offset in range(BASE, BASE + 60):
        position, header = segment.translate_offset(offset)
        assert header.base_offset <= offset <= header.last_offset
        assert position == (offset - BASE) // 3 * len(stored[0])
    assert segment.translate_offset(BASE + 60) is None

    read = segment.read(BASE + 7, 3 * len(stored[0]))
    assert read.first_offset == BASE + 6
    assert bytes(read.records) == b"".join(stored[2:5])
    assert read.next_offset == BASE + 15
    assert segment.read(BASE + 60, 10_000) is None


def test_read_limits(directory: Directory) -> None:
    segment = new_segment(directory)
    stored = fill(segment, 5)
    size = len(stored[0])
    # max_bytes smaller than one batch: the first batch anyway, unless min_one_batch is off
    assert bytes(segment.read(BASE, 10).records) == stored[0]
    assert bytes(segment.read(BASE, 10, min_one_batch=False).records) == b""
    # partial batches never returned
    assert bytes(segment.read(BASE, 2 * size + size // 2).records) == b"".join(stored[:2])
    # max_offset: batches whose base offset is >= it are left out
    assert bytes(segment.read(BASE, 10_000, max_offset=BASE + 6).records) == b"".join(stored[:2])
    assert bytes(segment.read(BASE, 10_000, max_offset=BASE + 7).records) == b"".join(stored[:3])
    assert bytes(segment.read(BASE, 10_000, max_offset=BASE).records) == b""
    # max_position
    assert bytes(segment.read(BASE, 10_000, max_position=2 * size).records) == b"".join(stored[:2])


def test_find_offset_by_timestamp(directory: Directory) -> None:
    segment = new_segment(directory)
    fill(segment, 20)  # batch i: timestamps 1000+10i .. +2, offsets BASE+3i ..
    for i in range(20):
        _, header = segment.find_offset_by_timestamp(1000 + 10 * i, BASE)
        assert header.base_offset == BASE + 3 * i
        _, header = segment.find_offset_by_timestamp(1000 + 10 * i + 2, BASE)
        assert header.base_offset == BASE + 3 * i
        found = segment.find_offset_by_timestamp(1000 + 10 * i + 3, BASE)
        if i < 19:
            assert found[1].base_offset == BASE + 3 * (i + 1)
        else:
            assert found is None
    assert segment.find_offset_by_timestamp(10**12, BASE) is None
    _, header = segment.find_offset_by_timestamp(0, BASE + 31)  # start offset wins over an early timestamp
    assert header.base_offset == BASE + 30


def test_truncate_to(directory: Directory) -> None:
    segment = new_segment(directory)
    stored = fill(segment, 20)
    removed = segment.truncate_to(BASE + 31)  # inside batch 10: the whole batch goes
    assert removed == 10 * len(stored[0])
    assert segment.read_next_offset() == BASE + 30
    assert segment.max_timestamp == 1000 + 90 + 2
    assert all(e.offset < BASE + 31 for e in (segment.offset_index.last_entry(),))
    fill(segment, 1, ts0=5000)
    assert segment.read_next_offset() == BASE + 33
    assert segment.max_timestamp == 5002
    assert segment.truncate_to(BASE + 1000) == 0
    segment.truncate_to(BASE)
    assert segment.size == 0 and segment.read_next_offset() == BASE


def test_reopen_loads_indexes_lazily(directory: Directory) -> None:
    config = LogConfig(index_interval_bytes=100)
    segment = LogSegment.create(directory, BASE, config)
    stored = fill(segment, 20)
    entries = segment.offset_index.entries
    segment.close()
    again = LogSegment.open(directory, BASE, config)
    assert not again.offset_index.loaded
    assert again.max_timestamp == 1192  # from the time index's final entry, without loading it
    assert not again.time_index.loaded
    assert bytes(again.read(BASE + 30, 10_000).records) == b"".join(stored[10:])
    assert again.offset_index.loaded and again.offset_index.entries == entries


@pytest.mark.parametrize("victim", [".index", ".timeindex"])
def test_missing_index_rebuilt(directory: Directory, victim: str) -> None:
    config = LogConfig(index_interval_bytes=100)
    segment = LogSegment.create(directory, BASE, config)
    stored = fill(segment, 20)
    segment.close()
    directory.delete(segment_file_name(BASE, victim))
    again = LogSegment.open(directory, BASE, config)
    assert again.max_timestamp == 1192
    assert again.read_next_offset() == BASE + 60
    assert bytes(again.read(BASE + 59, 10_000).records) == stored[-1]
    assert again.offset_index.entries > 0 and directory.exists(segment_file_name(BASE, victim))


def test_index_pointing_past_the_log_is_rebuilt(directory: Directory) -> None:
    config = LogConfig(index_interval_bytes=100)
    segment = LogSegment.create(directory, BASE, config)
    stored = fill(segment, 20)
    segment.close()
    directory.open(segment_file_name(BASE, ".log")).truncate(len(stored[0]) * 5)  # the log lost its tail
    again = LogSegment.open(directory, BASE, config)
    assert again.read_next_offset() == BASE + 15
    assert again.offset_index.last_entry().position < again.size


def test_recover_cuts_partial_batch(directory: Directory) -> None:
    segment = new_segment(directory)
    stored = fill(segment, 5)
    segment.log.append(stored[0][:30])
    assert segment.recover() == 30
    assert segment.read_next_offset() == BASE + 15
    assert headers(segment.read(BASE, 10_000).records)[-1].last_offset == BASE + 14


def test_recover_cuts_offsets_going_back(directory: Directory) -> None:
    segment = new_segment(directory)
    stored = fill(segment, 3)
    segment.log.append(stored[0])  # a valid batch, but with offsets already used
    assert segment.recover() == len(stored[0])


def test_should_roll(directory: Directory) -> None:
    config = LogConfig(segment_bytes=1000, segment_ms=100, segment_index_bytes=16, index_interval_bytes=0)
    segment = LogSegment.create(directory, BASE, config)
    assert not segment.should_roll(incoming_bytes=10**6, largest_offset=BASE, now_ms=0)  # empty: never
    stored = fill(segment, 1)
    size = len(stored[0])
    assert segment.should_roll(incoming_bytes=1000 - size + 1, largest_offset=BASE + 5, now_ms=0)
    assert not segment.should_roll(incoming_bytes=1000 - size, largest_offset=BASE + 5, now_ms=0)
    segment.first_append_ms = 0
    assert segment.should_roll(incoming_bytes=1, largest_offset=BASE + 5, now_ms=101)
    assert segment.should_roll(incoming_bytes=1, largest_offset=BASE + 2**31, now_ms=0)
    fill(segment, 2)  # interval 0: an entry on every append after the first
    assert segment.offset_index.entries == 2
    assert segment.should_roll(incoming_bytes=1, largest_offset=BASE + 10, now_ms=0)


def test_delete(directory: Directory) -> None:
    segment = new_segment(directory)
    fill(segment, 3)
    segment.delete()
    assert directory.list() == []
