"""Log: offsets, reads, rolls, timestamps, truncation, deletion, retention, persistence — on disk and in memory."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wire.records import crc_ok, iter_batches, parse_header

from kbroker.log import Log, LogClosedError, LogConfig, OffsetOutOfRange
from kbroker.log.storage import Directory, MemoryDirectory

from .helpers import as_stored, headers, make_batch, open_log, read_all

NOW = 1_700_000_000_000


def test_append_assigns_offsets(directory: Directory) -> None:
    log = open_log(directory)
    assert (log.log_start_offset, log.log_end_offset, log.high_watermark) == (0, 0, 0)
    info = log.append(make_batch(3), leader_epoch=5, now_ms=NOW)
    assert (info.first_offset, info.last_offset) == (0, 2)
    assert info.log_append_time_ms == -1 and info.log_start_offset == 0
    assert info.max_timestamp == 1002 and info.offset_of_max_timestamp == 2
    info = log.append(make_batch(2), leader_epoch=5, now_ms=NOW)
    assert (info.first_offset, info.last_offset) == (3, 4)
    assert log.log_end_offset == 5
    assert log.high_watermark == 0  # the caller moves it
    log.high_watermark = 100
    assert log.high_watermark == 5


def test_append_rewrites_offset_and_epoch_only(directory: Directory) -> None:
    log = open_log(directory)
    batch = make_batch(4, epoch=-1)
    original = bytes(batch)
    log.append(make_batch(1), leader_epoch=7, now_ms=NOW)
    log.append(batch, leader_epoch=7, now_ms=NOW)
    assert batch == original  # the caller's bytes are left alone
    stored = bytes(log.read(1, 10_000).records)
    assert stored == as_stored(original, 1, 7)
    header = parse_header(stored)
    assert header.base_offset == 1 and header.partition_leader_epoch == 7
    assert crc_ok(stored, 0, header)


def test_append_several_batches_at_once(directory: Directory) -> None:
    log = open_log(directory)
    data = make_batch(2) + make_batch(3, timestamp=5000) + make_batch(1)
    info = log.append(data, leader_epoch=0, now_ms=NOW)
    assert (info.first_offset, info.last_offset) == (0, 5)
    assert (info.max_timestamp, info.offset_of_max_timestamp) == (5002, 4)
    assert [(h.base_offset, h.last_offset) for h in headers(log.read(0, 10_000).records)] == [(0, 1), (2, 4), (5, 5)]


def test_append_log_append_time(directory: Directory) -> None:
    log = open_log(directory)
    info = log.append(make_batch(3), leader_epoch=0, now_ms=NOW, log_append_time=True)
    assert info.log_append_time_ms == NOW and info.max_timestamp == NOW
    stored = bytes(log.read(0, 10_000).records)
    header = parse_header(stored)
    assert header.is_log_append_time and header.max_timestamp == NOW
    assert crc_ok(stored, 0, header)
    assert log.offset_for_timestamp(NOW) == (0, NOW)
    assert log.max_timestamp() == (0, NOW)


def test_append_rejects_nothing_and_after_close(directory: Directory) -> None:
    log = open_log(directory)
    with pytest.raises(ValueError):
        log.append(b"", leader_epoch=0, now_ms=NOW)
    log.close()
    with pytest.raises(LogClosedError):
        log.append(make_batch(), leader_epoch=0, now_ms=NOW)


def test_read_rules(directory: Directory) -> None:
    log = open_log(directory)
    big = make_batch(5, value_size=500)
    for _ in range(4):
        log.append(big, leader_epoch=0, now_ms=NOW)
    size = len(big)
    # first batch even when larger than max_bytes
    info = log.read(7, 10)
    assert (info.first_offset, info.next_offset, info.size) == (5, 10, size)
    assert log.read(7, 10, min_one_batch=False).records == b""
    # whole batches only
    info = log.read(0, 2 * size + 100)
    assert info.size == 2 * size and info.next_offset == 10
    # max_offset (the high watermark) holds back batches at or above it
    assert log.read(0, 10**6, max_offset=10).size == 2 * size
    assert log.read(0, 10**6, max_offset=11).size == 3 * size
    assert log.read(10, 10**6, max_offset=10).records == b""
    # the log end: empty; beyond or below the log: out of range
    assert log.read(20, 100).records == b""
    with pytest.raises(OffsetOutOfRange) as exc:
        log.read(21, 100)
    assert (exc.value.log_start_offset, exc.value.log_end_offset) == (0, 20)
    with pytest.raises(OffsetOutOfRange):
        log.read(-1, 100)


def test_roll_by_size(directory: Directory) -> None:
    batch = make_batch(2, value_size=100)
    log = open_log(directory, LogConfig(segment_bytes=3 * len(batch) + 10, flush_on_roll=False))
    for _ in range(10):
        log.append(batch, leader_epoch=0, now_ms=NOW)
    assert log.segments == 4
    assert log.log_segments.base_offsets == [0, 6, 12, 18]
    assert read_all(log, 0) == b"".join(as_stored(batch, 2 * i, 0) for i in range(10))
    assert log.size_bytes == 10 * len(batch)


def test_roll_by_time_and_index(directory: Directory) -> None:
    log = open_log(directory, LogConfig(segment_ms=1000, index_interval_bytes=0, segment_index_bytes=8 * 3))
    log.append(make_batch(), leader_epoch=0, now_ms=NOW)
    log.append(make_batch(), leader_epoch=0, now_ms=NOW + 1000)
    assert log.segments == 1
    log.append(make_batch(), leader_epoch=0, now_ms=NOW + 1001)
    assert log.segments == 2
    for i in range(4):  # an index entry per append after the first: full after 3 more
        log.append(make_batch(), leader_epoch=0, now_ms=NOW + 1002)
    assert log.segments == 3


def test_config_changes_apply_live(directory: Directory) -> None:
    config = LogConfig(flush_on_roll=False)
    log = open_log(directory, config)
    batch = make_batch(1, value_size=200)
    log.append(batch, leader_epoch=0, now_ms=NOW)
    config.update(segment_bytes=len(batch) + 1)
    log.append(batch, leader_epoch=0, now_ms=NOW)
    assert log.segments == 2
    log.config = LogConfig(segment_bytes=10 * len(batch))
    log.append(batch, leader_epoch=0, now_ms=NOW)
    assert log.segments == 2
    with pytest.raises(ValueError):
        config.update(segment_bytes=1)
    with pytest.raises(TypeError):
        config.update(no_such_setting=1)


def test_offset_for_timestamp(directory: Directory) -> None:
    log = open_log(directory, LogConfig(segment_bytes=400, index_interval_bytes=50, flush_on_roll=False))
    # batch i holds offsets 3i..3i+2 with timestamps 1000+100i + (0, 20, 10): not in offset order inside
    for i in range(10):
        base = 1000 + 100 * i
        log.append(make_batch(timestamps=[base, base + 20, base + 10]), leader_epoch=0, now_ms=NOW)
    assert log.segments > 2
    assert log.offset_for_timestamp(0) == (0, 1000)
    assert log.offset_for_timestamp(1000) == (0, 1000)
    assert log.offset_for_timestamp(1001) == (1, 1020)  # record precision: decoded the one batch
    assert log.offset_for_timestamp(1011) == (1, 1020)
    assert log.offset_for_timestamp(1021) == (3, 1100)
    assert log.offset_for_timestamp(1915) == (28, 1920)
    assert log.offset_for_timestamp(1921) is None
    assert log.max_timestamp() == (28, 1920)
    log.high_watermark = log.log_end_offset
    log.delete_records_before(4)
    assert log.offset_for_timestamp(0) == (4, 1120)


def test_max_timestamp_empty_and_ties(directory: Directory) -> None:
    log = open_log(directory)
    assert log.max_timestamp() is None
    assert log.offset_for_timestamp(0) is None
    log.append(make_batch(timestamps=[5, 9, 9]), leader_epoch=0, now_ms=NOW)
    log.append(make_batch(timestamps=[9]), leader_epoch=0, now_ms=NOW)
    assert log.max_timestamp() == (1, 9)


def test_truncate_to(directory: Directory) -> None:
    log = open_log(directory, LogConfig(segment_bytes=300, flush_on_roll=False))
    batch = make_batch(2, value_size=50)
    for epoch in range(6):
        log.append(batch, leader_epoch=epoch, now_ms=NOW)
    log.high_watermark = 12
    segments = log.segments
    assert log.truncate_to(7)  # inside the batch 6..7: it goes entirely
    assert log.log_end_offset == 6
    assert log.high_watermark == 6
    assert log.segments < segments
    assert log.leader_epoch_cache.latest_epoch == 2
    assert read_all(log, 0) == b"".join(as_stored(batch, 2 * e, e) for e in range(3))
    assert not log.truncate_to(100)
    info = log.append(batch, leader_epoch=9, now_ms=NOW)
    assert info.first_offset == 6
    assert log.end_offset_for_epoch(2) == (2, 6)


def test_truncate_fully_and_start_at(directory: Directory) -> None:
    log = open_log(directory)
    log.append(make_batch(3), leader_epoch=1, now_ms=NOW)
    log.truncate_fully_and_start_at(1000)
    assert (log.log_start_offset, log.log_end_offset, log.high_watermark) == (1000, 1000, 1000)
    assert log.leader_epoch_cache.entries == []
    assert log.append(make_batch(), leader_epoch=2, now_ms=NOW).first_offset == 1000
    with pytest.raises(OffsetOutOfRange):
        log.read(999, 100)
    log.close()
    again = open_log(directory)
    assert (again.log_start_offset, again.log_end_offset) == (1000, 1001)


def test_truncate_below_first_segment(directory: Directory) -> None:
    log = open_log(directory)
    log.truncate_fully_and_start_at(50)
    log.append(make_batch(3), leader_epoch=1, now_ms=NOW)
    log.truncate_to(10)
    assert (log.log_start_offset, log.log_end_offset) == (10, 10)


def test_delete_records_before(directory: Directory) -> None:
    batch = make_batch(2, value_size=100)
    log = open_log(directory, LogConfig(segment_bytes=2 * len(batch), flush_on_roll=False))
    for _ in range(6):
        log.append(batch, leader_epoch=0, now_ms=NOW)
    assert log.segments == 3  # two batches (four offsets) a segment
    with pytest.raises(OffsetOutOfRange):
        log.delete_records_before(1)  # above the high watermark
    log.high_watermark = log.log_end_offset
    assert log.delete_records_before(5) == 5  # inside the second segment, inside a batch
    assert log.log_start_offset == 5 and log.segments == 2
    with pytest.raises(OffsetOutOfRange):
        log.read(4, 100)
    info = log.read(5, 10_000)
    assert info.first_offset == 4  # the batch holding 5 comes whole
    assert log.delete_records_before(3) == 5  # never backwards
    assert log.delete_records_before(12) == 12
    assert log.segments == 1 and log.read(12, 100).records == b""
    log.close()
    again = open_log(directory)
    assert again.log_start_offset == 12 and again.log_end_offset == 12


def test_retention_by_time(directory: Directory) -> None:
    batch_size = len(make_batch(2, value_size=100))
    log = open_log(directory, LogConfig(segment_bytes=2 * batch_size, retention_ms=1000, flush_on_roll=False))
    for i in range(6):
        log.append(make_batch(2, value_size=100, timestamp=10_000 * i), leader_epoch=0, now_ms=NOW)
    log.high_watermark = log.log_end_offset
    assert log.enforce_retention(now_ms=10_000 + 1001) == 0  # segment 0's newest timestamp is 10001
    assert log.enforce_retention(now_ms=10_001 + 1001) == 1
    assert log.log_start_offset == 4
    assert log.enforce_retention(now_ms=10**9) == 1  # never the active segment
    assert log.segments == 1 and log.log_start_offset == 8
    log.config.update(retention_ms=-1)
    assert log.enforce_retention(now_ms=10**12) == 0


def test_retention_respects_high_watermark(directory: Directory) -> None:
    batch = make_batch(2, value_size=100)
    log = open_log(directory, LogConfig(segment_bytes=2 * len(batch), retention_ms=0, flush_on_roll=False))
    for _ in range(6):
        log.append(batch, leader_epoch=0, now_ms=NOW)
    log.high_watermark = 7
    assert log.enforce_retention(now_ms=10**12) == 1  # segment 4..7 reaches the high watermark: kept
    assert log.log_start_offset == 4


def test_retention_by_size(directory: Directory) -> None:
    batch = make_batch(2, value_size=100)
    size = len(batch)
    log = open_log(directory, LogConfig(segment_bytes=2 * size, retention_ms=-1, retention_bytes=3 * size, flush_on_roll=False))
    for _ in range(7):
        log.append(batch, leader_epoch=0, now_ms=NOW)
    log.high_watermark = log.log_end_offset
    assert log.segments == 4 and log.size_bytes == 7 * size
    # As Kafka: delete the oldest while what is left is still >= retention_bytes.
    assert log.enforce_retention(now_ms=NOW) == 2
    assert log.size_bytes == 3 * size and log.log_start_offset == 8


def test_reopen_keeps_everything(directory: Directory) -> None:
    log = open_log(directory, LogConfig(segment_bytes=500, index_interval_bytes=64))
    expected = b""
    for i in range(30):
        batch = make_batch(1 + i % 3, value_size=i * 3, timestamp=1000 + i)
        info = log.append(batch, leader_epoch=i // 10, now_ms=NOW)
        expected += as_stored(batch, info.first_offset, i // 10)
    log.high_watermark = log.log_end_offset
    log.delete_records_before(3)
    end, segments, epochs = log.log_end_offset, log.segments, log.leader_epoch_cache.entries
    log.close()
    again = open_log(directory)
    assert again.had_clean_shutdown
    assert (again.log_start_offset, again.log_end_offset, again.segments) == (3, end, segments)
    assert again.high_watermark == end
    assert again.leader_epoch_cache.entries == epochs
    first = headers(again.read(3, 100).records)[0].base_offset
    assert read_all(again, 3) == expected[sum(len(b) for b in _batches_before(expected, first)) :]
    assert again.max_timestamp() == (end - 1, 1031)
    assert again.append(make_batch(), leader_epoch=3, now_ms=NOW).first_offset == end


def _batches_before(data: bytes, offset: int) -> list[bytes]:
    return [data[p : p + h.size] for p, h in iter_batches(data) if h.base_offset < offset]


def test_delete_removes_everything(directory: Directory) -> None:
    log = open_log(directory)
    log.append(make_batch(), leader_epoch=0, now_ms=NOW)
    log.delete()
    assert directory.list() == [] if isinstance(directory, MemoryDirectory) else not directory.path.exists()


def test_in_memory_open_without_directory() -> None:
    log = Log.open(None, LogConfig(), in_memory=True)
    log.append(make_batch(2), leader_epoch=0, now_ms=NOW)
    assert log.read(0, 1000).size > 0
    with pytest.raises(ValueError):
        Log.open(None, LogConfig())


# -- property: reads return exactly the batches holding or following an offset ------------------------------


@st.composite
def appends(draw: st.DrawFn) -> list[list[tuple[int, int]]]:
    """A list of appends, each a list of (record count, value size) batches."""
    return draw(
        st.lists(
            st.lists(st.tuples(st.integers(1, 5), st.integers(0, 120)), min_size=1, max_size=3),
            min_size=1,
            max_size=25,
        )
    )


@pytest.mark.parametrize("engine_kind", ["disk", "memory"])
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    plan=appends(),
    segment_bytes=st.integers(100, 1200),
    index_interval=st.integers(0, 300),
    reopen_at=st.integers(0, 25),
    probes=st.lists(st.tuples(st.floats(0, 1), st.integers(1, 2000)), min_size=1, max_size=12),
)
def test_reads_return_the_batches_from_an_offset(
    tmp_path_factory: pytest.TempPathFactory,
    engine_kind: str,
    plan: list[list[tuple[int, int]]],
    segment_bytes: int,
    index_interval: int,
    reopen_at: int,
    probes: list[tuple[float, int]],
) -> None:
    from .helpers import new_directory

    directory = new_directory(engine_kind, tmp_path_factory.mktemp("prop"))
    config = LogConfig(segment_bytes=segment_bytes, index_interval_bytes=index_interval, flush_on_roll=False)
    log = Log.open(directory, config)
    model: list[tuple[int, int, bytes]] = []  # (base, last, stored bytes) of every batch
    for i, batches in enumerate(plan):
        if i == reopen_at:
            log.close()
            log = Log.open(directory, config)
        data = b"".join(make_batch(count, value_size=size, timestamp=i) for count, size in batches)
        info = log.append(data, leader_epoch=i % 3, now_ms=NOW)
        offset = info.first_offset
        for count, size in batches:
            one = make_batch(count, value_size=size, timestamp=i)
            model.append((offset, offset + count - 1, as_stored(one, offset, i % 3)))
            offset += count
    end = model[-1][1] + 1
    assert log.log_end_offset == end
    for fraction, max_bytes in probes:
        offset = min(int(fraction * end), end)
        holding = [k for k, (base, last, _) in enumerate(model) if last >= offset]
        expected = b"".join(stored for _, _, stored in model[holding[0] :]) if holding else b""
        assert read_all(log, offset, max_bytes) == expected
        info = log.read(offset, max_bytes)
        if offset == end:
            assert info.records == b""
        else:
            got = headers(info.records)
            assert got[0].base_offset <= offset <= got[0].last_offset
            assert len(got) == 1 or info.size <= max_bytes
    log.close()


# -- property: a log behaves as a list of batches under appends, truncation, deletion, rolls and restarts ------

Op = tuple


@st.composite
def operations(draw: st.DrawFn) -> list[Op]:
    batch = st.tuples(st.integers(1, 4), st.integers(0, 150))
    op = st.one_of(
        st.tuples(st.just("append"), st.lists(batch, min_size=1, max_size=3)),
        st.tuples(st.just("truncate"), st.floats(0, 1)),
        st.tuples(st.just("delete_before"), st.floats(0, 1)),
        st.tuples(st.just("retention"), st.integers(0, 3000)),
        st.tuples(st.just("roll")),
        st.tuples(st.just("reopen")),
        st.tuples(st.just("crash")),
    )
    return draw(st.lists(op, min_size=1, max_size=30))


@pytest.mark.parametrize("engine_kind", ["disk", "memory"])
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations(), segment_bytes=st.integers(150, 1500), index_interval=st.integers(0, 300), data=st.data())
def test_log_matches_a_list_of_batches(
    tmp_path_factory: pytest.TempPathFactory,
    engine_kind: str,
    ops: list[Op],
    segment_bytes: int,
    index_interval: int,
    data: st.DataObject,
) -> None:
    from .helpers import new_directory

    directory = new_directory(engine_kind, tmp_path_factory.mktemp("model"))
    config = LogConfig(segment_bytes=segment_bytes, index_interval_bytes=index_interval, flush_on_roll=False)
    log = Log.open(directory, config)
    model: list[tuple[int, int, int, bytes]] = []  # (base, last, first record timestamp, stored bytes)
    start = end = 0
    for step, op in enumerate(ops):
        kind = op[0]
        if kind == "append":
            offset = end
            raw = [make_batch(count, value_size=size, timestamp=step * 10) for count, size in op[1]]
            info = log.append(b"".join(raw), leader_epoch=step, now_ms=NOW)
            assert info.first_offset == end
            for one, (count, _) in zip(raw, op[1]):
                model.append((offset, offset + count - 1, step * 10, as_stored(one, offset, step)))
                offset += count
            end = offset
        elif kind == "truncate":
            target = start + int(op[1] * (end - start))
            log.truncate_to(target)
            if target < end:
                kept = [b for b in model if b[1] < target]
                end = kept[-1][1] + 1 if kept else model[0][0] if model else target
                model = kept
                start = min(start, end)
        elif kind == "delete_before":
            log.high_watermark = end
            target = start + int(op[1] * (end - start))
            assert log.delete_records_before(target) == max(start, target)
            start = max(start, target)
        elif kind == "retention":
            log.high_watermark = end
            log.config = LogConfig(
                segment_bytes=segment_bytes, index_interval_bytes=index_interval, retention_bytes=op[1],
                retention_ms=-1, flush_on_roll=False,
            )
            log.enforce_retention(NOW)
            assert log.log_start_offset >= start
            assert log.log_start_offset == max(start, log.log_segments.first.base_offset)
            start = log.log_start_offset
            log.config = config
        elif kind == "roll":
            log.roll()
        elif kind == "reopen":
            log.close()
            log = Log.open(directory, config)
        elif kind == "crash":
            log = Log.open(directory, config)
        assert (log.log_start_offset, log.log_end_offset) == (start, end), op
        visible = [b for b in model if b[1] >= start]
        assert read_all(log, start, data.draw(st.integers(1, 3000))) == b"".join(b[3] for b in visible)
        if end > start:
            offset = data.draw(st.integers(start, end - 1))
            first = headers(log.read(offset, 1).records)[0]
            assert first.base_offset <= offset <= first.last_offset
            ts = data.draw(st.integers(0, len(ops) * 10 + 5))
            candidates = [
                (base + j, t0 + j) for base, last, t0, _ in visible for j in range(last - base + 1)
                if base + j >= start and t0 + j >= ts
            ]
            assert log.offset_for_timestamp(ts) == (candidates[0] if candidates else None)
    log.close()


def test_a_dropped_log_releases_its_descriptors(tmp_path) -> None:
    """A Log abandoned without close() (by a test, or by code that lost track of it) must not keep its segment and
    index descriptors open: a long run would hit the process's descriptor limit (select() then fails past 1024)."""
    import gc
    import os

    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    gc.collect()
    before = open_fds()
    for round_ in range(20):
        log = open_log(tmp_path / f"p-{round_}")
        log.append(make_batch(1), leader_epoch=0, now_ms=1)
        del log
    gc.collect()
    assert open_fds() - before < 5
