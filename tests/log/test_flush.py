"""When the log fsyncs: rolled segments on the flusher's thread (the recovery point moving only once they are on
disk), every flush.messages messages inside the append, and flush.ms in the background."""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from kbroker.log import Log, LogConfig, LogWriteError
from kbroker.log.flusher import THREAD_NAME, BackgroundFlusher
from kbroker.log.loader import CLEAN_SHUTDOWN_FILE, RECOVERY_POINT_FILE

from .helpers import make_batch


class GatedFsync:
    """os.fsync that records the calling thread and, when closed, holds the flush thread until opened."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.threads: list[str] = []
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, fd: int) -> None:
        name = threading.current_thread().name
        self.threads.append(name)
        if name.startswith(THREAD_NAME):
            assert self.gate.wait(30), "the test never opened the gate"
        self.real(fd)


@pytest.fixture
def fsync(monkeypatch: pytest.MonkeyPatch) -> GatedFsync:
    gated = GatedFsync(os.fsync)
    monkeypatch.setattr(os, "fsync", gated)
    return gated


def _checkpoint(path: Path) -> int:
    lines = (path / RECOVERY_POINT_FILE).read_text().split()
    return int(lines[-1])


def test_roll_fsyncs_on_the_flush_thread_and_recovery_point_waits_for_it(tmp_path: Path, fsync: GatedFsync) -> None:
    flusher = BackgroundFlusher()
    log = Log.open(tmp_path / "t-0", LogConfig(segment_bytes=200), flusher=flusher)
    try:
        # the first append of a leader epoch writes the epoch checkpoint (once per epoch, not per roll)
        log.append(make_batch(value_size=100), leader_epoch=0, now_ms=1000)
        fsync.gate.clear()
        fsync.threads.clear()
        for _ in range(5):
            log.append(make_batch(value_size=100), leader_epoch=0, now_ms=1000)
        assert log.segments >= 3
        assert not [t for t in fsync.threads if not t.startswith(THREAD_NAME)], fsync.threads
        assert log.recovery_point == 0  # nothing fsynced yet: the recovery point claims nothing
        assert not (tmp_path / "t-0" / RECOVERY_POINT_FILE).exists() or _checkpoint(tmp_path / "t-0") == 0
        fsync.gate.set()
        flusher.drain(30)
        active_base = log.active_segment.base_offset
        assert log.recovery_point == active_base
        assert _checkpoint(tmp_path / "t-0") == active_base
    finally:
        fsync.gate.set()
        log.close()
        flusher.close()


def test_truncation_below_a_pending_flush_keeps_the_recovery_point_down(tmp_path: Path, fsync: GatedFsync) -> None:
    flusher = BackgroundFlusher()
    log = Log.open(tmp_path / "t-0", LogConfig(segment_bytes=200), flusher=flusher)
    try:
        fsync.gate.clear()
        for _ in range(4):
            log.append(make_batch(value_size=100), leader_epoch=0, now_ms=1000)
        log.truncate_to(1)
        fsync.gate.set()
        flusher.drain(30)
        assert log.recovery_point <= 1 == log.log_end_offset
    finally:
        fsync.gate.set()
        log.close()
        flusher.close()


def test_flush_messages_fsyncs_before_the_append_returns(tmp_path: Path, fsync: GatedFsync) -> None:
    log = Log.open(tmp_path / "t-0", LogConfig(flush_messages=2))
    try:
        log.append(make_batch(), leader_epoch=0, now_ms=1000)
        assert log.recovery_point == 0
        fsync.threads.clear()
        log.append(make_batch(), leader_epoch=0, now_ms=1000)
        assert log.recovery_point == 2 and fsync.threads
        assert _checkpoint(tmp_path / "t-0") == 2
    finally:
        log.close()


def test_flush_ms_flushes_in_the_background(tmp_path: Path, fsync: GatedFsync) -> None:
    flusher = BackgroundFlusher()
    log = Log.open(tmp_path / "t-0", LogConfig(flush_ms=50), flusher=flusher)
    try:
        log.append(make_batch(), leader_epoch=0, now_ms=1000)
        fsync.threads.clear()
        assert not log.flush_if_due(log._recovery.last_flush_ms + 10)  # not due yet
        assert log.flush_if_due(log._recovery.last_flush_ms + 60)
        flusher.drain(30)
        assert log.recovery_point == 1
        assert fsync.threads and all(t.startswith(THREAD_NAME) for t in fsync.threads)
    finally:
        log.close()
        flusher.close()


def _fsynced_logs(calls: list[str]) -> list[str]:
    return [name for name in calls if name.endswith(".log")]


def test_each_rolled_segment_is_fsynced_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.fsync
    gate = threading.Event()
    calls: list[str] = []

    def recording(fd: int) -> None:
        if threading.current_thread().name.startswith(THREAD_NAME):
            assert gate.wait(30)
            calls.append(os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        real(fd)

    monkeypatch.setattr(os, "fsync", recording)
    flusher = BackgroundFlusher()
    log = Log.open(tmp_path / "t-0", LogConfig(segment_bytes=200), flusher=flusher)
    try:
        for _ in range(8):  # rolls while the flush thread is held: each job gets only the segments it adds
            log.append(make_batch(value_size=100), leader_epoch=-1, now_ms=1000)
        gate.set()
        flusher.drain(30)
        logs = _fsynced_logs(calls)
        assert len(logs) == len(set(logs)) == log.segments - 1, calls
        assert log.recovery_point == log.active_segment.base_offset
    finally:
        gate.set()
        log.close()
        flusher.close()


def test_a_failed_background_flush_freezes_the_recovery_point_and_refuses_appends(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a failed fsync the kernel may have dropped the dirty pages: a later fsync that succeeds proves nothing
    about them, so the recovery point never moves again in this process and appends fail (KAFKA_STORAGE_ERROR)."""
    real = os.fsync
    failures = [1]

    def failing_once(fd: int) -> None:
        if failures and threading.current_thread().name.startswith(THREAD_NAME):
            failures.pop()
            raise OSError(5, "Input/output error")
        real(fd)

    monkeypatch.setattr(os, "fsync", failing_once)
    flusher = BackgroundFlusher()
    log = Log.open(tmp_path / "t-0", LogConfig(segment_bytes=200), flusher=flusher)
    try:
        log.append(make_batch(value_size=100), leader_epoch=-1, now_ms=1000)
        log.append(make_batch(value_size=100), leader_epoch=-1, now_ms=1000)  # rolls: its flush fails
        flusher.drain(30)
        assert log.recovery_point == 0
        with pytest.raises(LogWriteError):
            log.append(make_batch(value_size=100), leader_epoch=-1, now_ms=1000)
        assert log.log_end_offset == 2
        log.flush_in_background()  # fsync works again now: still nothing may move the point
        log.flush_if_due(10**12)
        flusher.drain(30)
        assert log.recovery_point == 0
    finally:
        log.close()
        flusher.close()
    assert not (tmp_path / "t-0" / CLEAN_SHUTDOWN_FILE).exists()  # the next start recovers from offset 0
    reopened = Log.open(tmp_path / "t-0", LogConfig(segment_bytes=200))
    try:
        assert reopened.log_end_offset == 2
    finally:
        reopened.close()


def test_truncation_does_not_wait_for_a_checkpoint_write_on_the_flush_thread(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The flush thread writes the recovery-point checkpoint (with an fsync) without holding the lock the event
    loop takes to truncate; the file ends with the latest point all the same."""
    real = os.fsync
    gate = threading.Event()
    writing = threading.Event()

    def gated(fd: int) -> None:
        if threading.current_thread().name.startswith(THREAD_NAME) and \
                RECOVERY_POINT_FILE in os.readlink(f"/proc/self/fd/{fd}"):
            writing.set()
            assert gate.wait(30)
        real(fd)

    monkeypatch.setattr(os, "fsync", gated)
    flusher = BackgroundFlusher()
    log = Log.open(tmp_path / "t-0", LogConfig(segment_bytes=200), flusher=flusher)
    try:
        for _ in range(4):
            log.append(make_batch(value_size=100), leader_epoch=0, now_ms=1000)  # rolls: background flushes
        assert writing.wait(30), "the flush thread never wrote the checkpoint"
        done = threading.Event()
        truncation = threading.Thread(target=lambda: (log.truncate_to(1), done.set()), daemon=True)
        truncation.start()  # stands in for the event loop
        assert done.wait(10), "the truncation waited for the flush thread's checkpoint fsync"
        gate.set()
        flusher.drain(30)
        assert log.recovery_point <= 1 == log.log_end_offset
        log.close()
        assert _checkpoint(tmp_path / "t-0") <= 1
    finally:
        gate.set()
        log.close()
        flusher.close()
