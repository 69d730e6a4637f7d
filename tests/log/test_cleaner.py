"""The log cleaner on real logs (disk and memory): latest value per key, offsets kept, tombstones removed after
delete.retention.ms, aborted transactions dropped, markers and producers' last batches kept, appends and reads
going on while a pass runs, and a reopened log that reads back the same."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import anyio
import pytest

from kbroker.log import Log, LogConfig
from kbroker.log.cleaner import DELETE_HORIZON_BIT, CleanerConfig, CleanTarget, LogCleaner
from wire.records import (Record, build_batch, build_control_batch, decode_records, iter_batches, parse_header)

from .helpers import new_directory

SMALL = LogConfig(segment_bytes=4096, index_interval_bytes=256)


def keyed_batch(pairs: list[tuple[bytes, bytes | None]], *, timestamp: int = 1_000, compression: int = 0,
                producer_id: int = -1, epoch: int = -1, sequence: int = -1, transactional: bool = False) -> bytes:
    records = [Record(i, i, key, value) for i, (key, value) in enumerate(pairs)]
    return build_batch(records, base_timestamp=timestamp, compression=compression, producer_id=producer_id,
                       producer_epoch=epoch, base_sequence=sequence, transactional=transactional)


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def records_of(log: Log, start: int | None = None) -> list[tuple[int, bytes | None, bytes | None, int]]:
    """(offset, key, value, timestamp) of every data record, read as a consumer would."""
    out = []
    offset = log.log_start_offset if start is None else start
    while True:
        info = log.read(offset, 1 << 20)
        if not info.records:
            return out
        data = bytes(info.records)
        for pos, header in iter_batches(data):
            batch = data[pos:pos + header.size]
            if not header.is_control:
                for r in decode_records(batch):
                    out.append((header.base_offset + r.offset_delta, r.key, r.value,
                                header.base_timestamp + r.timestamp_delta))
        offset = info.next_offset


def latest(items: list[tuple[bytes, bytes | None]]) -> dict[bytes, bytes | None]:
    out: dict[bytes, bytes | None] = {}
    for key, value in items:
        out[key] = value
    return out


def open_log(directory, config: LogConfig = SMALL) -> Log:  # type: ignore[no-untyped-def]
    return Log.open(directory, config)


def append(log: Log, batch: bytes, now: int = 1_000) -> None:
    log.append(batch, leader_epoch=0, now_ms=now)
    log.high_watermark = log.log_end_offset


def clean(log: Log, config: CleanerConfig | None = None, *, now: int = 10_000, force: bool = True,
          cleaner: LogCleaner | None = None):  # type: ignore[no-untyped-def]
    cleaner = cleaner or LogCleaner(lambda: [], clock=Clock(now))
    target = CleanTarget("t-0", log, config or CleanerConfig(delete_retention_ms=1000))
    return anyio.run(lambda: cleaner.clean_log(target, force=force)), cleaner


def fill(log: Log, updates: int, keys: int, *, per_batch: int = 10, tombstone_every: int = 0,
         timestamp: int = 1_000) -> list[tuple[bytes, bytes | None]]:
    written: list[tuple[bytes, bytes | None]] = []
    pending: list[tuple[bytes, bytes | None]] = []
    for i in range(updates):
        key = b"k%d" % (i % keys)
        value = None if tombstone_every and i % tombstone_every == tombstone_every - 1 else b"v%d" % i
        pending.append((key, value))
        if len(pending) == per_batch:
            append(log, keyed_batch(pending, timestamp=timestamp + i))
            written += pending
            pending = []
    if pending:
        append(log, keyed_batch(pending, timestamp=timestamp + updates))
        written += pending
    return written


def test_keeps_latest_value_per_key_and_offsets(directory) -> None:  # type: ignore[no-untyped-def]
    log = open_log(directory)
    written = fill(log, 2000, 50)
    log.roll()
    end = log.log_end_offset
    before = records_of(log)
    stats, _ = clean(log)
    assert stats is not None and stats.segments > 0
    after = records_of(log)
    assert log.log_end_offset == end
    offsets = [o for o, *_ in after]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
    expected = latest(written)
    assert {k: v for _, k, v, _ in after} == expected
    assert len(after) == len(expected)
    # each kept record has the offset and timestamp it had before
    by_offset = {o: (k, v, ts) for o, k, v, ts in before}
    for o, k, v, ts in after:
        assert by_offset[o] == (k, v, ts)
    assert log.size_bytes < sum(1 for _ in before) * 10  # much smaller than the 2000 records were


def test_tombstones_stay_until_delete_horizon(directory) -> None:  # type: ignore[no-untyped-def]
    log = open_log(directory)
    written = fill(log, 300, 30, tombstone_every=3)
    log.roll()
    cleaner = LogCleaner(lambda: [], clock=Clock(10_000))
    clean(log, CleanerConfig(delete_retention_ms=5_000), cleaner=cleaner)
    first = {k: v for _, k, v, _ in records_of(log)}
    assert first == latest(written)  # tombstones still there, with a horizon in their batch
    assert any(v is None for v in first.values())
    horizons = []
    offset = log.log_start_offset
    info = log.read(offset, 1 << 20)
    for pos, header in iter_batches(bytes(info.records)):
        if header.attributes & DELETE_HORIZON_BIT:
            horizons.append(header.base_timestamp)
    assert horizons and set(horizons) == {15_000}
    # before the horizon nothing changes; after it the tombstones go
    cleaner._clock = Clock(14_999)  # type: ignore[attr-defined]
    clean(log, CleanerConfig(delete_retention_ms=5_000), cleaner=cleaner)
    assert {k: v for _, k, v, _ in records_of(log)} == first
    cleaner._clock = Clock(15_001)  # type: ignore[attr-defined]
    stats, _ = clean(log, CleanerConfig(delete_retention_ms=5_000), cleaner=cleaner)
    assert stats.tombstones_removed > 0
    final = {k: v for _, k, v, _ in records_of(log)}
    assert final == {k: v for k, v in latest(written).items() if v is not None}


def test_not_due_below_dirty_ratio_and_due_after_horizon() -> None:
    log = open_log(new_directory("memory", Path(".")))
    fill(log, 200, 200, tombstone_every=2)  # unique keys: nothing to compact away but tombstones
    log.roll()
    clock = Clock(10_000)
    cleaner = LogCleaner(lambda: [], clock=clock)
    target = CleanTarget("t-0", log, CleanerConfig(delete_retention_ms=1_000, min_cleanable_ratio=0.5))
    assert anyio.run(cleaner.clean_log, target) is not None  # all dirty
    assert anyio.run(cleaner.clean_log, target) is None  # all clean now
    clock.now = 11_001
    stats = anyio.run(cleaner.clean_log, target)  # a horizon passed
    assert stats is not None and stats.tombstones_removed == 100


def test_min_compaction_lag_and_active_segment_untouched() -> None:
    log = open_log(new_directory("memory", Path(".")))
    fill(log, 100, 5, timestamp=1_000)
    log.roll()
    fill(log, 100, 5, timestamp=9_500)  # young segment
    log.roll()
    fill(log, 100, 5, timestamp=9_900)  # active
    stats, _ = clean(log, CleanerConfig(min_compaction_lag_ms=1_000), now=10_000)
    assert stats.end_offset == 100  # only the first segment was cleanable
    records = records_of(log)
    assert len([o for o, *_ in records if o < 100]) == 5
    assert len([o for o, *_ in records if o >= 100]) == 200


def test_compressed_batches_keep_their_codec(directory) -> None:  # type: ignore[no-untyped-def]
    log = open_log(directory)
    for i in range(20):
        append(log, keyed_batch([(b"a", b"%d" % i), (b"b%d" % i, b"x")], compression=4, timestamp=1000 + i))
    log.roll()
    clean(log)
    info = log.read(log.log_start_offset, 1 << 20)
    codecs = {h.compression for _, h in iter_batches(bytes(info.records))}
    assert codecs == {4}
    assert {k: v for _, k, v, _ in records_of(log)} == {b"a": b"19", **{b"b%d" % i: b"x" for i in range(20)}}


def test_transactions_aborted_data_dropped_markers_kept(directory) -> None:  # type: ignore[no-untyped-def]
    log = open_log(directory)
    append(log, keyed_batch([(b"k", b"committed")], producer_id=7, epoch=0, sequence=0, transactional=True))
    append(log, build_control_batch(True, producer_id=7, producer_epoch=0, coordinator_epoch=0, timestamp=1000))
    append(log, keyed_batch([(b"k", b"aborted")], producer_id=7, epoch=0, sequence=1, transactional=True))
    append(log, build_control_batch(False, producer_id=7, producer_epoch=0, coordinator_epoch=0, timestamp=1000))
    append(log, keyed_batch([(b"other", b"x")], producer_id=8, epoch=0, sequence=0))
    append(log, keyed_batch([(b"other", b"y")]))
    log.roll()
    clean(log)
    data = bytes(log.read(0, 1 << 20).records)
    headers = [h for _, h in iter_batches(data)]
    assert sum(1 for h in headers if h.is_control) == 2  # both markers kept
    values = {k: v for _, k, v, _ in records_of(log)}
    assert values == {b"k": b"committed", b"other": b"y"}  # the aborted value never shadows the committed one
    # producer 8's only batch lost its record but stays, empty, for its sequence number
    kept8 = [h for h in headers if h.producer_id == 8]
    assert len(kept8) == 1 and kept8[0].record_count == 0 and kept8[0].base_sequence == 0


def test_open_transaction_stops_cleaning(directory) -> None:  # type: ignore[no-untyped-def]
    log = open_log(directory)
    fill(log, 20, 2)
    log.roll()
    append(log, keyed_batch([(b"k0", b"txn")], producer_id=9, epoch=0, sequence=0, transactional=True))
    fill(log, 20, 2)
    log.roll()
    stats, _ = clean(log)
    assert stats.end_offset == 20  # up to the first offset of the undecided transaction
    assert len([r for r in records_of(log) if r[0] >= 20]) == 21


def test_reopen_after_cleaning_reads_the_same(tmp_path: Path) -> None:
    directory = new_directory("disk", tmp_path)
    log = open_log(directory)
    fill(log, 1000, 20, tombstone_every=7)
    log.roll()
    clean(log)
    fill(log, 10, 20)
    before = records_of(log)
    end = log.log_end_offset
    log.close()
    reopened = open_log(new_directory("disk", tmp_path))
    assert reopened.log_end_offset == end
    assert records_of(reopened) == before
    assert not [n for n in (tmp_path / "topic-0").iterdir() if n.name.endswith(".cleaned")]
    # offsets inside a cleaned segment still resolve (index rebuilt from the new file)
    some = before[len(before) // 2][0]
    assert reopened.read(some, 100).first_offset <= some
    reopened.close()


def test_appends_and_reads_go_on_during_a_pass(tmp_path: Path) -> None:
    log = open_log(new_directory("disk", tmp_path), LogConfig(segment_bytes=64 * 1024))
    written = fill(log, 20_000, 100, per_batch=20)
    log.roll()
    cleaner = LogCleaner(lambda: [], clock=Clock(10_000))
    target = CleanTarget("t-0", log, CleanerConfig())
    appended = 0
    reads = 0

    async def main() -> None:
        nonlocal appended, reads
        done = anyio.Event()

        async def cleaning() -> None:
            await cleaner.clean_log(target, force=True)
            done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(cleaning)
            while not done.is_set():
                append(log, keyed_batch([(b"late", b"%d" % appended)], timestamp=2_000_000))
                appended += 1
                info = log.read(log.log_start_offset, 4096)
                assert info.records
                reads += 1
                await anyio.sleep(0.001)

    anyio.run(main)
    assert appended > 0 and reads > 0
    got = {k: v for _, k, v, _ in records_of(log)}
    assert got == {**latest(written), b"late": b"%d" % (appended - 1)}


def test_cleaning_stops_with_the_broker(tmp_path: Path) -> None:
    log = open_log(new_directory("disk", tmp_path), LogConfig(segment_bytes=1 << 20))
    fill(log, 30_000, 1000, per_batch=50)
    log.roll()
    cleaner = LogCleaner(lambda: [CleanTarget("t-0", log, CleanerConfig())], backoff_ms=10, clock=Clock(10_000))

    async def main() -> None:
        with anyio.move_on_after(0.05):
            await cleaner.run()

    started = time.monotonic()
    anyio.run(main)
    assert time.monotonic() - started < 60  # a hang guard (a whole pass takes under a second): not a speed test
    # whatever the pass got to, the log still reads whole and in order
    offsets = [o for o, *_ in records_of(log)]
    assert offsets == sorted(offsets)
    time.sleep(0.2)
    assert threading.active_count() < 50


class _FakeStop:
    """threading.Event's wait without waiting: the clock moves on by the time asked for."""

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.waits: list[float] = []

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.clock[0] += seconds
        return False


def test_throttler_keeps_io_under_the_rate() -> None:
    from kbroker.log.cleaner import Throttler

    now = [100.0]
    stop = _FakeStop(now)
    throttler = Throttler(1000.0, stop, clock=lambda: now[0])  # type: ignore[arg-type]
    throttler.maybe_throttle(500)
    assert stop.waits == [pytest.approx(0.5)]
    now[0] += 2.0  # idle for a while: the next bytes are within the rate
    throttler.maybe_throttle(1000)
    assert len(stop.waits) == 1
    throttler.maybe_throttle(2000)  # 3500 bytes in 2.5 s at 1000 B/s: 1 s ahead
    assert stop.waits[-1] == pytest.approx(1.0) and throttler.slept == pytest.approx(1.5)
    unlimited = Throttler(float("inf"), stop, clock=lambda: now[0])  # type: ignore[arg-type]
    unlimited.maybe_throttle(10**9)
    assert len(stop.waits) == 2


def test_io_max_bytes_per_second_throttles_a_pass() -> None:
    log = open_log(new_directory("memory", Path(".")))
    fill(log, 600, 50)
    log.roll()
    stats, _ = clean(log, cleaner=LogCleaner(lambda: [], clock=Clock(10_000), io_max_bytes_per_second=100_000))
    assert stats is not None and stats.throttled_seconds > 0
    log2 = open_log(new_directory("memory", Path(".")))
    fill(log2, 600, 50)
    log2.roll()
    stats2, _ = clean(log2)
    assert stats2 is not None and stats2.throttled_seconds == 0


def test_active_in_memory_segment_is_not_copied_on_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    from kbroker.log.storage import MemoryStorage

    log = open_log(new_directory("memory", Path(".")), LogConfig(segment_bytes=1 << 24, index_interval_bytes=256))
    fill(log, 300, 50)
    log.roll()
    fill(log, 20000, 50, per_batch=50)  # a large active segment
    active = log.active_segment.size
    assert active > 200_000
    loop_thread = threading.current_thread()
    reads: list[int] = []
    real_read = MemoryStorage.read

    def recording_read(self, position: int, size: int) -> bytes:  # type: ignore[no-untyped-def]
        if threading.current_thread() is loop_thread:
            reads.append(size)
        return real_read(self, position, size)

    monkeypatch.setattr(MemoryStorage, "read", recording_read)
    stats, _ = clean(log)
    assert stats is not None and stats.segments > 0
    assert not [size for size in reads if size >= active], reads


def test_a_cleaned_segment_keeps_its_modification_time(directory) -> None:  # type: ignore[no-untyped-def]
    """Retention judges a segment whose records have no timestamp by its file's modification time; the cleaner
    keeps it (Kafka's cleaner does too), or untimed records of a compact,delete topic would never expire: every
    pass would make their segments new again."""
    log = open_log(directory)
    for i in range(200):
        append(log, keyed_batch([(b"k%d" % (i % 7), b"v%d" % i)], timestamp=-1))
    log.roll()
    old = [(s.base_offset, s.largest_timestamp) for s in log.log_segments][:-1]
    assert old and all(ts > 0 for _, ts in old)  # no record timestamp: the file time stands in
    time.sleep(0.05)
    stats, _ = clean(log)
    assert stats is not None and stats.segments > 0
    after = {s.base_offset: s.largest_timestamp for s in log.log_segments}
    assert [(base, after[base]) for base, _ in old if base in after] == [(b, t) for b, t in old if b in after]
