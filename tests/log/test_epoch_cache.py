"""LeaderEpochFileCache: assignment, OffsetForLeaderEpoch answers, truncation both ways, persistence."""
from __future__ import annotations

from kbroker.log.epoch_cache import CHECKPOINT_NAME, EpochEntry, LeaderEpochFileCache
from kbroker.log.storage import Directory


def cache_with(directory: Directory, *entries: tuple[int, int]) -> LeaderEpochFileCache:
    cache = LeaderEpochFileCache(directory)
    for epoch, start in entries:
        cache.assign(epoch, start)
    return cache


def test_assign_and_persist(directory: Directory) -> None:
    cache = cache_with(directory, (0, 0), (2, 10), (5, 30))
    assert cache.latest_epoch == 5
    assert cache.entries == [EpochEntry(0, 0), EpochEntry(2, 10), EpochEntry(5, 30)]
    assert directory.read_bytes(CHECKPOINT_NAME) == b"0\n3\n0 0\n2 10\n5 30\n"
    assert LeaderEpochFileCache(directory).entries == cache.entries


def test_assign_same_epoch_later_offset_is_a_no_op(directory: Directory) -> None:
    cache = cache_with(directory, (1, 5), (1, 9))
    assert cache.entries == [EpochEntry(1, 5)]


def test_assign_drops_contradicted_entries(directory: Directory) -> None:
    cache = cache_with(directory, (1, 0), (2, 10), (3, 20))
    cache.assign(2, 15)  # epoch 2 again, later: 2 and 3 were wrong
    assert cache.entries == [EpochEntry(1, 0), EpochEntry(2, 15)]
    cache.assign(4, 5)  # a later epoch at an earlier offset: everything from offset 5 goes
    assert cache.entries == [EpochEntry(1, 0), EpochEntry(4, 5)]


def test_end_offset_for(directory: Directory) -> None:
    cache = cache_with(directory, (2, 10), (4, 20), (7, 35))
    assert cache.end_offset_for(7, 50) == (7, 50)  # latest epoch: the log end
    assert cache.end_offset_for(4, 50) == (4, 35)
    assert cache.end_offset_for(2, 50) == (2, 20)
    assert cache.end_offset_for(5, 50) == (4, 35)  # unknown epoch between: the one before, ending at the next
    assert cache.end_offset_for(1, 50) == (1, 10)  # older than all: ends where the first known starts
    assert cache.end_offset_for(8, 50) == (-1, -1)
    assert cache.end_offset_for(-1, 50) == (-1, -1)
    assert LeaderEpochFileCache(None).end_offset_for(3, 50) == (-1, -1)


def test_epoch_for_offset(directory: Directory) -> None:
    cache = cache_with(directory, (2, 10), (4, 20))
    assert cache.epoch_for_offset(5) is None
    assert cache.epoch_for_offset(10) == 2
    assert cache.epoch_for_offset(19) == 2
    assert cache.epoch_for_offset(1000) == 4


def test_truncate_from_end(directory: Directory) -> None:
    cache = cache_with(directory, (2, 10), (4, 20), (7, 35))
    cache.truncate_from_end(36)
    assert cache.latest_epoch == 7
    cache.truncate_from_end(35)
    assert cache.entries == [EpochEntry(2, 10), EpochEntry(4, 20)]
    cache.truncate_from_end(0)
    assert cache.entries == []
    assert LeaderEpochFileCache(directory).entries == []


def test_truncate_from_start(directory: Directory) -> None:
    cache = cache_with(directory, (2, 10), (4, 20), (7, 35))
    cache.truncate_from_start(5)
    assert cache.earliest_entry == EpochEntry(2, 10)
    cache.truncate_from_start(25)
    assert cache.entries == [EpochEntry(4, 25), EpochEntry(7, 35)]
    cache.truncate_from_start(35)
    assert cache.entries == [EpochEntry(7, 35)]
    assert LeaderEpochFileCache(directory).entries == [EpochEntry(7, 35)]


def test_unreadable_checkpoint_starts_empty(directory: Directory) -> None:
    directory.write_atomic(CHECKPOINT_NAME, b"0\n2\n1 0\n")
    assert LeaderEpochFileCache(directory).entries == []


def test_clear(directory: Directory) -> None:
    cache = cache_with(directory, (1, 0))
    cache.clear()
    assert cache.latest_epoch is None and LeaderEpochFileCache(directory).entries == []
