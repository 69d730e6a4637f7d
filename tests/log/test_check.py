"""kbroker.log.check (`kbroker check-log`): a log the broker wrote passes, clean or after a crash with a torn tail
(a note: recovery cuts it); each kind of damage the checker exists for is reported as an error."""
from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from wire.records import Record, build_batch

from kbroker.log import Log, LogConfig
from kbroker.log.check import check_directory, check_partition
from kbroker.log.loader import RECOVERY_POINT_FILE

from .helpers import make_batch

NOW = 1_700_000_000_000
SMALL = LogConfig(segment_bytes=600, index_interval_bytes=64)


def written(tmp_path: Path, count: int = 30, *, close: bool = True) -> Path:
    path = tmp_path / "topic-0"
    log = Log.open(path, SMALL)
    for i in range(count):
        log.append(make_batch(1 + i % 3, value_size=40, timestamp=1000 + i), leader_epoch=0, now_ms=NOW)
    for i in range(4):  # an idempotent producer: its state goes into the snapshots taken at each roll
        log.append(build_batch([Record(0, 0, b"k", b"v" * 40)], base_timestamp=NOW, producer_id=9, producer_epoch=0,
                               base_sequence=i), leader_epoch=0, now_ms=NOW)
        log.roll()
    if close:
        log.close()
    return path


def segment_files(path: Path, suffix: str) -> list[Path]:
    return sorted(path.glob(f"*{suffix}"))


def test_a_log_the_broker_wrote_passes(tmp_path: Path) -> None:
    path = written(tmp_path)
    report = check_partition(path)
    assert report.errors == [] and report.notes == []
    assert report.clean_shutdown and report.segments > 5 and report.log_end_offset == 30 * 2 + 4
    assert len(list(path.glob("*.snapshot"))) >= 1


def test_a_torn_tail_after_a_crash_is_a_note(tmp_path: Path) -> None:
    path = written(tmp_path, close=False)  # no clean shutdown marker
    active = segment_files(path, ".log")[-1]
    with open(active, "ab") as f:
        f.write(make_batch(2)[:40])  # a write cut short
    report = check_partition(path)
    assert report.errors == [] and any("incomplete tail" in n for n in report.notes), report


def test_damage_is_reported(tmp_path: Path) -> None:
    path = written(tmp_path)
    first = segment_files(path, ".log")[0]
    data = bytearray(first.read_bytes())
    data[70] ^= 0xFF  # a record byte of the first batch: CRC mismatch in a closed segment
    first.write_bytes(bytes(data))
    (path / RECOVERY_POINT_FILE).write_text("0\n1\n999\n")
    index = segment_files(path, ".index")[1]
    entry = index.read_bytes()[:8]
    rel, position = struct.unpack(">ii", entry)
    index.write_bytes(struct.pack(">ii", rel, position + 1))  # not a batch boundary
    errors = check_partition(path).errors
    assert any("CRC mismatch" in e for e in errors), errors
    assert any("recovery point 999 is past the log end" in e for e in errors), errors
    assert any("does not point at a batch" in e for e in errors), errors


def test_gaps_are_notes_unless_compacted(tmp_path: Path) -> None:
    """Only the cleaner leaves gaps, but a topic switched from compact to delete keeps the ones it left: judged by
    today's cleanup.policy a gap is no proof of damage, so it is a note."""
    path = tmp_path / "topic-0"
    log = Log.open(path, LogConfig())
    for timestamp in (9000, 1000, 2000):  # the time index's entry names the first batch, not the one moved
        log.append(make_batch(2, timestamp=timestamp), leader_epoch=0, now_ms=NOW)
    log.close()
    segment = segment_files(path, ".log")[0]
    data = bytearray(segment.read_bytes())
    last = len(data) - len(make_batch(2))
    assert struct.unpack_from(">q", data, last)[0] == 4
    struct.pack_into(">q", data, last, 9)  # offsets 4-8 skipped (the base offset is not under the CRC)
    segment.write_bytes(bytes(data))
    report = check_partition(path)
    assert report.errors == [], report.errors
    assert any("missing before" in n or "does not follow" in n for n in report.notes), report.notes
    compacted = check_partition(path, compacted=True)
    assert compacted.errors == [] and not any("missing before" in n for n in compacted.notes)


def test_index_problems_past_the_recovery_point_of_an_unclean_log_are_notes(tmp_path: Path) -> None:
    """After a crash, recovery rebuilds the indexes of the segments from the one holding the recovery point on:
    what is wrong there is a note. Below it (or after a clean shutdown) the same damage is an error."""
    path = written(tmp_path, close=False)  # no clean shutdown marker
    (path / RECOVERY_POINT_FILE).write_text("0\n1\n0\n")  # nothing flushed: recovery rescans it all
    indexes = segment_files(path, ".index")
    damaged = next(i for i in indexes if i.stat().st_size >= 8)
    rel, position = struct.unpack(">ii", damaged.read_bytes()[:8])
    damaged.write_bytes(struct.pack(">ii", rel, position + 1) + damaged.read_bytes()[8:])
    report = check_partition(path)
    assert report.errors == [], report.errors
    assert any("does not point at a batch" in n and "recovery rebuilds" in n for n in report.notes), report.notes
    (path / ".kafka_cleanshutdown").write_text("")
    assert any("does not point at a batch" in e for e in check_partition(path).errors)


def test_segments_are_read_a_batch_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A segment is never read whole (one may be a gigabyte): the checker reads it batch by batch."""
    path = written(tmp_path)
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        assert not self.name.endswith(".log"), f"{self.name} read whole"
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    report = check_partition(path)
    assert report.errors == [] and report.batches == 30 + 4


def test_snapshot_that_disagrees_with_the_log(tmp_path: Path) -> None:
    path = written(tmp_path)
    # rewrite the producer's last batch in place with another epoch (same size, CRC recomputed by build_batch)
    for segment in segment_files(path, ".log"):
        data = segment.read_bytes()
        if data and struct.unpack_from(">q", data, 43)[0] == 9:  # producerId of the first batch
            offset = struct.unpack_from(">q", data, 0)[0]
            replaced = bytearray(build_batch([Record(0, 0, b"k", b"v" * 40)], base_timestamp=NOW, producer_id=9,
                                             producer_epoch=3, base_sequence=struct.unpack_from(">i", data, 53)[0]))
            struct.pack_into(">q", replaced, 0, offset)
            struct.pack_into(">i", replaced, 12, 0)
            segment.write_bytes(bytes(replaced) + data[len(replaced):])
    errors = check_partition(path).errors
    assert any("but the log holds producer 9 epoch 3" in e for e in errors), errors


def test_cli(tmp_path: Path) -> None:
    written(tmp_path)
    ok = subprocess.run([sys.executable, "-m", "kbroker", "check-log", str(tmp_path)], capture_output=True, text=True,
                        timeout=60)
    assert ok.returncode == 0 and "0 error(s)" in ok.stdout, ok.stdout + ok.stderr
    (tmp_path / "topic-0" / RECOVERY_POINT_FILE).write_text("0\n1\n999\n")
    bad = subprocess.run([sys.executable, "-m", "kbroker", "check-log", str(tmp_path)], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 1 and "error: recovery point 999" in bad.stdout, bad.stdout
    assert check_directory(tmp_path)[0].name == "topic-0"
