"""LogLoader: start-up after a clean shutdown and after a crash (partial writes, corruption, lost indexes)."""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from wire.records import crc_ok, iter_batches

from kbroker.log import Log, LogConfig
from kbroker.log.loader import CLEAN_SHUTDOWN_FILE, LOG_START_OFFSET_FILE, RECOVERY_POINT_FILE
from kbroker.log.segment import segment_file_name
from kbroker.log.storage import Directory

from .helpers import as_stored, headers, make_batch, read_all

NOW = 1_700_000_000_000
SMALL = dict(segment_bytes=600, index_interval_bytes=64)


def fill(log: Log, count: int, epoch: int = 0) -> list[bytes]:
    stored = []
    for i in range(count):
        batch = make_batch(1 + i % 3, value_size=40, timestamp=1000 + i)
        info = log.append(batch, leader_epoch=epoch, now_ms=NOW)
        stored.append(as_stored(batch, info.first_offset, epoch))
    return stored


def crash_and_reopen(directory: Directory, config: LogConfig) -> Log:
    """Open the directory again without closing the old Log: what a restart after kill -9 finds."""
    return Log.open(directory, config)


def log_file(log: Log, base: int | None = None) -> str:
    return segment_file_name(log.active_segment.base_offset if base is None else base, ".log")


def test_clean_shutdown_skips_recovery(directory: Directory) -> None:
    config = LogConfig(**SMALL)
    log = Log.open(directory, config)
    fill(log, 10)
    log.close()
    assert directory.exists(CLEAN_SHUTDOWN_FILE)
    again = Log.open(directory, config)
    assert again.had_clean_shutdown and again.recovered_bytes == 0
    assert not directory.exists(CLEAN_SHUTDOWN_FILE)  # a crash from now on is unclean


def test_crash_without_damage_keeps_everything(directory: Directory) -> None:
    config = LogConfig(**SMALL, flush_on_roll=False)
    log = Log.open(directory, config)
    stored = fill(log, 20, epoch=4)
    again = crash_and_reopen(directory, config)
    assert not again.had_clean_shutdown and again.recovered_bytes == 0
    assert again.log_end_offset == log.log_end_offset
    assert read_all(again, 0) == b"".join(stored)
    assert again.leader_epoch_cache.latest_epoch == 4


def test_log_truncated_mid_batch(directory: Directory) -> None:
    config = LogConfig(**SMALL)
    log = Log.open(directory, config)
    stored = fill(log, 12)
    directory.open(log_file(log)).truncate(log.active_segment.size - 7)  # the last write only half done
    again = crash_and_reopen(directory, config)
    last = headers(stored[-1])[0]
    assert again.log_end_offset == last.base_offset
    assert again.recovered_bytes == len(stored[-1]) - 7
    assert read_all(again, 0) == b"".join(stored[:-1])
    assert again.append(make_batch(), leader_epoch=0, now_ms=NOW).first_offset == last.base_offset


def test_corrupt_byte_in_last_batch(directory: Directory) -> None:
    config = LogConfig(**SMALL)
    log = Log.open(directory, config)
    stored = fill(log, 12)
    storage = directory.open(log_file(log))
    position = storage.size - 5  # inside the last batch's records: under the CRC
    byte = storage.read(position, 1)[0]
    _overwrite(directory, log_file(log), position, byte ^ 0xFF)
    again = crash_and_reopen(directory, config)
    assert again.log_end_offset == headers(stored[-1])[0].base_offset
    assert read_all(again, 0) == b"".join(stored[:-1])


def test_garbage_tail_dropped(directory: Directory) -> None:
    config = LogConfig(**SMALL)
    log = Log.open(directory, config)
    stored = fill(log, 5)
    directory.open(log_file(log)).append(b"\x00" * 300)  # e.g. preallocated blocks after a power loss
    again = crash_and_reopen(directory, config)
    assert again.recovered_bytes == 300
    assert read_all(again, 0) == b"".join(stored)


@pytest.mark.parametrize("crash", [False, True])
def test_deleted_index_files_rebuilt(directory: Directory, crash: bool) -> None:
    config = LogConfig(**SMALL)
    log = Log.open(directory, config)
    stored = fill(log, 30)
    end = log.log_end_offset
    if not crash:
        log.close()
    for name in directory.list():
        if name.endswith((".index", ".timeindex")):
            directory.delete(name)
    again = Log.open(directory, config)
    assert again.log_end_offset == end
    assert read_all(again, 0) == b"".join(stored)
    for offset in range(end):
        first = headers(again.read(offset, 1).records)[0]
        assert first.base_offset <= offset <= first.last_offset
    assert again.max_timestamp() is not None
    assert again.offset_for_timestamp(1029) == (56, 1029)  # batch 55..56 holds 1028, 1029


def test_corrupt_earlier_segment_drops_later_ones(directory: Directory) -> None:
    config = LogConfig(**SMALL, flush_on_roll=False)  # recovery point stays 0: every segment is rescanned
    log = Log.open(directory, config)
    stored = fill(log, 30)
    assert log.segments >= 3
    second = log.log_segments.base_offsets[1]
    _overwrite(directory, log_file(log, second), 70, 0x55)  # inside the first batch of segment 2
    again = crash_and_reopen(directory, config)
    assert again.segments == 2
    assert again.log_end_offset == second
    kept = [s for s in stored if headers(s)[0].base_offset < second]
    assert read_all(again, 0) == b"".join(kept)


def test_recovery_starts_at_the_recovery_point(directory: Directory) -> None:
    config = LogConfig(**SMALL)  # flush_on_roll: rolled segments are fsynced and not rescanned
    log = Log.open(directory, config)
    fill(log, 30)
    assert log.recovery_point == log.active_segment.base_offset
    _overwrite(directory, log_file(log, 0), 70, 0x55)  # damage that only a full rescan would notice
    again = crash_and_reopen(directory, config)
    assert again.log_end_offset == log.log_end_offset and again.recovered_bytes == 0


def test_epochs_rebuilt_from_batches(directory: Directory) -> None:
    config = LogConfig(**SMALL, flush_on_roll=False)
    log = Log.open(directory, config)
    fill(log, 5, epoch=1)
    fill(log, 5, epoch=3)
    entries = log.leader_epoch_cache.entries
    directory.delete("leader-epoch-checkpoint")
    again = crash_and_reopen(directory, config)
    assert again.leader_epoch_cache.entries == entries


def test_epochs_cut_to_what_survived(directory: Directory) -> None:
    config = LogConfig(**SMALL)
    log = Log.open(directory, config)
    fill(log, 5, epoch=1)
    start = log.log_end_offset
    fill(log, 1, epoch=2)
    directory.open(log_file(log)).truncate(log.active_segment.size - 1)
    again = crash_and_reopen(directory, config)
    assert again.log_end_offset == start
    assert again.leader_epoch_cache.latest_epoch == 1


def test_leftovers_removed(directory: Directory) -> None:
    config = LogConfig(**SMALL)
    log = Log.open(directory, config)
    fill(log, 3)
    log.close()
    for name in ("00000000000000000500.index", "00000000000000000500.timeindex", "x.tmp", "00000000000000000000.log.deleted"):
        directory.open(name).append(b"junk")
    again = Log.open(directory, config)
    assert again.log_end_offset == 6
    names = set(directory.list())
    assert not names & {"00000000000000000500.index", "00000000000000000500.timeindex", "x.tmp", "00000000000000000000.log.deleted"}


def test_bad_checkpoints_ignored(directory: Directory) -> None:
    config = LogConfig(**SMALL)
    log = Log.open(directory, config)
    fill(log, 3, epoch=2)
    log.close()
    for name in (LOG_START_OFFSET_FILE, RECOVERY_POINT_FILE, "leader-epoch-checkpoint"):
        directory.write_atomic(name, b"not a checkpoint")
    again = Log.open(directory, config)
    assert (again.log_start_offset, again.log_end_offset) == (0, 6)


def test_start_offset_beyond_surviving_end(directory: Directory) -> None:
    config = LogConfig(**SMALL)
    log = Log.open(directory, config)
    fill(log, 5)
    log.high_watermark = log.log_end_offset
    log.delete_records_before(9)
    directory.open(log_file(log)).truncate(0)  # the data the start offset pointed into is gone
    again = crash_and_reopen(directory, config)
    assert (again.log_start_offset, again.log_end_offset) == (9, 9)
    assert again.append(make_batch(), leader_epoch=0, now_ms=NOW).first_offset == 9


def _overwrite(directory: Directory, name: str, position: int, value: int) -> None:
    path = directory.path
    if path is None:
        directory.open(name).corrupt(position, value)  # type: ignore[attr-defined]
        return
    with open(path / name, "r+b") as f:
        f.seek(position)
        f.write(bytes([value]))


# -- a real kill -9 -----------------------------------------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import sys, time
    from kbroker.log import Log, LogConfig
    from tests.log.helpers import make_batch
    log = Log.open(sys.argv[1], LogConfig(segment_bytes=20_000, index_interval_bytes=512))
    i = 0
    while True:
        log.append(make_batch(1 + i % 4, value_size=i % 700, timestamp=i), leader_epoch=i // 500, now_ms=i)
        i += 1
        if i == 200:
            print("ready", flush=True)
    """
)


def test_kill_9_while_appending(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    target = tmp_path / "t-0"
    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(target)], cwd=root, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(root)}
    )
    try:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], 30)  # bounded: a writer that never starts fails
        assert ready and child.stdout.readline().strip() == b"ready"
        time.sleep(0.3)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    log = Log.open(target, LogConfig(segment_bytes=20_000, index_interval_bytes=512))
    assert not log.had_clean_shutdown
    assert log.log_end_offset > 200
    data = read_all(log, 0)
    expected = 0
    for position, header in iter_batches(data):
        assert header.base_offset == expected
        assert crc_ok(data, position, header)
        expected = header.last_offset + 1
    assert expected == log.log_end_offset
    assert log.append(make_batch(), leader_epoch=9, now_ms=0).first_offset == expected
    log.close()
