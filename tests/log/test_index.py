"""OffsetIndex and TimeIndex: append, lookup, truncate, reload, corruption detection."""
from __future__ import annotations

import pytest

from kbroker.log.index import IndexCorruptError
from kbroker.log.offset_index import OffsetIndex, OffsetPosition
from kbroker.log.storage import Directory
from kbroker.log.time_index import TimeIndex, TimestampOffset

BASE = 100


def offset_index(directory: Directory, max_bytes: int = 1 << 20) -> OffsetIndex:
    return OffsetIndex(directory, "00000000000000000100.index", BASE, max_bytes)


def time_index(directory: Directory, max_bytes: int = 1 << 20) -> TimeIndex:
    return TimeIndex(directory, "00000000000000000100.timeindex", BASE, max_bytes)


def test_offset_index_lookup(directory: Directory) -> None:
    index = offset_index(directory)
    assert index.lookup(150) == OffsetPosition(BASE, 0)
    for offset, position in [(110, 1000), (120, 2000), (130, 3000)]:
        index.append(offset, position)
    assert index.entries == 3
    assert index.lookup(100) == OffsetPosition(BASE, 0)
    assert index.lookup(109) == OffsetPosition(BASE, 0)
    assert index.lookup(110) == OffsetPosition(110, 1000)
    assert index.lookup(125) == OffsetPosition(120, 2000)
    assert index.lookup(10**9) == OffsetPosition(130, 3000)
    assert index.last_entry() == OffsetPosition(130, 3000)


def test_offset_index_refuses_out_of_order_and_out_of_range(directory: Directory) -> None:
    index = offset_index(directory)
    index.append(110, 1000)
    with pytest.raises(ValueError):
        index.append(110, 2000)
    with pytest.raises(ValueError):
        index.append(120, 1000)
    with pytest.raises(ValueError):
        index.append(BASE - 1, 5000)
    with pytest.raises(ValueError):
        index.append(BASE + 2**31, 5000)


def test_offset_index_persists_and_truncates(directory: Directory) -> None:
    index = offset_index(directory)
    for i in range(1, 6):
        index.append(BASE + 10 * i, 100 * i)
    index.close()
    again = offset_index(directory)
    assert not again.loaded
    assert again.entries == 5
    again.truncate_to(130)  # entries at 130 and above go
    assert again.entries == 2
    assert again.last_entry() == OffsetPosition(120, 200)
    again.close()
    assert offset_index(directory).entries == 2  # the file was cut too


def test_offset_index_full(directory: Directory) -> None:
    index = offset_index(directory, max_bytes=24)
    for i in range(3):
        assert not index.is_full
        index.append(BASE + i + 1, i + 1)
    assert index.is_full


def test_offset_index_corrupt_size(directory: Directory) -> None:
    directory.open("00000000000000000100.index").append(b"\x00" * 7)
    with pytest.raises(IndexCorruptError):
        offset_index(directory).load()


def test_offset_index_corrupt_order(directory: Directory) -> None:
    storage = directory.open("00000000000000000100.index")
    storage.append((10).to_bytes(4, "big") + (100).to_bytes(4, "big"))
    storage.append((5).to_bytes(4, "big") + (200).to_bytes(4, "big"))
    with pytest.raises(IndexCorruptError):
        offset_index(directory).load()


def test_time_index_entries_only_grow(directory: Directory) -> None:
    index = time_index(directory)
    assert index.last_entry() is None
    assert index.maybe_append(5000, 110)
    assert not index.maybe_append(5000, 120)  # not newer
    assert not index.maybe_append(4000, 130)
    assert not index.maybe_append(-1, 130)
    assert index.maybe_append(6000, 140)
    assert index.entries == 2
    with pytest.raises(ValueError):
        index.maybe_append(7000, 120)  # offsets may not go back


def test_time_index_lookup_before(directory: Directory) -> None:
    index = time_index(directory)
    for ts, offset in [(1000, 110), (2000, 120), (3000, 130)]:
        index.maybe_append(ts, offset)
    assert index.lookup_before(1000) is None
    assert index.lookup_before(1001) == TimestampOffset(1000, 110)
    assert index.lookup_before(3000) == TimestampOffset(2000, 120)
    assert index.lookup_before(10**12) == TimestampOffset(3000, 130)


def test_time_index_last_entry_without_loading(directory: Directory) -> None:
    index = time_index(directory)
    index.maybe_append(1000, 110)
    index.maybe_append(2000, 120)
    index.close()
    again = time_index(directory)
    assert again.last_entry() == TimestampOffset(2000, 120)
    assert not again.loaded


def test_time_index_truncate_and_full(directory: Directory) -> None:
    index = time_index(directory, max_bytes=36)
    for i in range(3):
        assert index.maybe_append(1000 * (i + 1), BASE + 10 * (i + 1))
    assert index.is_full
    assert not index.maybe_append(9000, 200)
    assert index.maybe_append(9000, 200, skip_full_check=True)
    index.truncate_to(120)
    assert index.entries == 1
    assert index.last_entry() == TimestampOffset(1000, 110)


def test_rebuild_start_empties(directory: Directory) -> None:
    index = offset_index(directory)
    index.append(110, 10)
    index.rebuild_start()
    assert index.entries == 0
    index.close()
    assert offset_index(directory).entries == 0
