"""A write that fails (disk full: ENOSPC from write(2)) leaves the log as it was: LogWriteError, no offsets used,
no partial batch or index entry behind, logged once; the next append that can write continues at the same offset,
and the log reloads with contiguous offsets. The failure is injected at the storage layer's write, where a full
disk shows itself (tests/broker/test_disk_full.py fills a real file-size limit on a live broker)."""
from __future__ import annotations

import errno
import logging
import time
from pathlib import Path

import pytest

from kbroker.log import LogConfig, LogWriteError
from kbroker.log.producer_state import AppendOrigin
from kbroker.log.storage import FileStorage
from tests.log.helpers import headers, make_batch, open_log, read_all
from wire.records import Record, build_batch, build_control_batch

NOW = time.time_ns() // 1_000_000  # producer state expires by batch timestamps against the clock


class FullDisk:
    """Makes FileStorage.append fail with ENOSPC for files whose name ends with one of `suffixes`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.suffixes: tuple[str, ...] = ()
        original = FileStorage.append

        def append(storage: FileStorage, data):  # type: ignore[no-untyped-def]
            if storage.path.name.endswith(self.suffixes) if self.suffixes else False:
                raise OSError(errno.ENOSPC, "No space left on device")
            return original(storage, data)

        monkeypatch.setattr(FileStorage, "append", append)


@pytest.mark.parametrize("failing", [(".log",), (".index",), (".timeindex",)])
def test_failed_append_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             caplog: pytest.LogCaptureFixture, failing: tuple[str, ...]) -> None:
    disk = FullDisk(monkeypatch)
    log = open_log(tmp_path / "t-0", LogConfig(index_interval_bytes=0))  # an index entry with every append
    log.append(make_batch(3), leader_epoch=0, now_ms=1)
    size = log.size_bytes
    disk.suffixes = failing
    caplog.set_level(logging.DEBUG, logger="kbroker.log.log")
    for _ in range(5):
        with pytest.raises(LogWriteError):
            log.append(make_batch(2, timestamp=5_000), leader_epoch=0, now_ms=2)
        assert log.log_end_offset == 3 and log.size_bytes == size
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "cannot write" in errors[0].getMessage()
    disk.suffixes = ()
    info = log.append(make_batch(2, timestamp=6_000), leader_epoch=0, now_ms=3)
    assert info.first_offset == 3
    assert any("succeed again" in r.getMessage() for r in caplog.records)
    assert log.offset_for_timestamp(6_000) == (3, 6_000)
    log.close()
    reopened = open_log(tmp_path / "t-0", LogConfig(index_interval_bytes=0))
    assert [(h.base_offset, h.last_offset) for h in headers(read_all(reopened, 0))] == [(0, 2), (3, 4)]
    assert reopened.log_end_offset == 5
    reopened.close()


def test_failed_abort_index_entry_leaves_the_marker_out_and_the_lso_free(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The transaction index entry of an abort is written with the marker, before any offset or producer state
    moves: when it cannot be written the marker is taken back too, and the coordinator's retry completes the
    transaction (written after the state had moved, its failure left the transaction open and the LSO stuck)."""
    disk = FullDisk(monkeypatch)
    log = open_log(tmp_path / "t-0")
    data = build_batch([Record(0, 0, None, b"v")], base_timestamp=NOW, producer_id=7, producer_epoch=0,
                       base_sequence=0, transactional=True)
    abort = build_control_batch(False, producer_id=7, producer_epoch=0, coordinator_epoch=0, timestamp=NOW)
    log.append(data, leader_epoch=0, now_ms=NOW)
    log.high_watermark = log.log_end_offset
    size = log.size_bytes
    disk.suffixes = (".txnindex",)
    with pytest.raises(LogWriteError):
        log.append(abort, leader_epoch=0, now_ms=NOW, origin=AppendOrigin.COORDINATOR)
    assert log.log_end_offset == 1 and log.size_bytes == size
    assert log.last_stable_offset == 0
    disk.suffixes = ()
    info = log.append(abort, leader_epoch=0, now_ms=NOW, origin=AppendOrigin.COORDINATOR)
    assert info.first_offset == 1
    log.high_watermark = log.log_end_offset
    assert log.last_stable_offset == 2
    aborted = log.collect_aborted_transactions(0, 2)
    assert [(a.producer_id, a.first_offset, a.last_offset, a.last_stable_offset) for a in aborted] == [(7, 0, 1, 2)]
    log.close()
