"""LogManager: directory layout, create/get/delete, start-up loading, in-memory mode."""
from __future__ import annotations

from pathlib import Path

import pytest

from kbroker.log import LogConfig, LogManager
from kbroker.log.manager import parse_partition_dir_name, partition_dir_name

from .helpers import make_batch

NOW = 1_700_000_000_000


def test_dir_names() -> None:
    assert partition_dir_name("orders.v2-eu", 3) == "orders.v2-eu-3"
    assert parse_partition_dir_name("orders.v2-eu-3") == ("orders.v2-eu", 3)
    assert parse_partition_dir_name("a-b-c-10") == ("a-b-c", 10)
    assert parse_partition_dir_name("noparition") is None
    assert parse_partition_dir_name("t-x") is None
    assert parse_partition_dir_name("t-0.0123abcd-delete") is None
    for bad in ("", ".", "..", "a/b"):
        with pytest.raises(ValueError):
            partition_dir_name(bad, 0)


def test_create_get_and_reload(tmp_path: Path) -> None:
    manager = LogManager(tmp_path)
    log = manager.create("my-topic.x", 2)
    assert manager.create("my-topic.x", 2) is log
    assert manager.get("my-topic.x", 2) is log and manager.get("my-topic.x", 1) is None
    log.append(make_batch(3), leader_epoch=0, now_ms=NOW)
    manager.create("other", 0, LogConfig(segment_bytes=1000))
    assert (tmp_path / "my-topic.x-2").is_dir()
    manager.close_all()

    (tmp_path / "not a partition").mkdir()
    (tmp_path / "stray-file-0").write_text("x")
    (tmp_path / "gone-1.0123456789abcdef-delete").mkdir()
    again = LogManager(tmp_path)
    configs = {"other": LogConfig(segment_bytes=2000)}
    logs = again.load_all(lambda topic: configs.get(topic, LogConfig()))
    assert set(logs) == {("my-topic.x", 2), ("other", 0)}
    assert logs[("my-topic.x", 2)].log_end_offset == 3
    assert logs[("other", 0)].config.segment_bytes == 2000
    assert again.flusher is not None
    again.flusher.drain(30)  # leftovers of an interrupted deletion go on the flush thread
    assert not (tmp_path / "gone-1.0123456789abcdef-delete").exists()
    again.close_all()


def test_delete(tmp_path: Path) -> None:
    manager = LogManager(tmp_path)
    log = manager.create("t", 0)
    log.append(make_batch(), leader_epoch=0, now_ms=NOW)
    assert manager.delete("t", 0)
    assert not manager.delete("t", 0)
    assert manager.get("t", 0) is None
    assert not (tmp_path / "t-0").exists()  # renamed away at once; the files go on the flush thread
    assert manager.flusher is not None
    manager.flusher.drain(30)
    assert [p.name for p in tmp_path.iterdir() if p.name != ".lock"] == []
    assert manager.create("t", 0).log_end_offset == 0  # a new partition by the same name starts empty
    manager.close_all()


def test_one_broker_per_directory(tmp_path: Path) -> None:
    manager = LogManager(tmp_path)
    with pytest.raises(RuntimeError):
        LogManager(tmp_path)
    manager.close_all()
    LogManager(tmp_path).close_all()


def test_crash_then_load(tmp_path: Path) -> None:
    manager = LogManager(tmp_path)
    manager.create("t", 0).append(make_batch(2), leader_epoch=1, now_ms=NOW)
    # no close_all: the process died; the lock goes with it
    manager._lock_fd and __import__("os").close(manager._lock_fd)
    logs = LogManager(tmp_path).load_all()
    assert not logs[("t", 0)].had_clean_shutdown and logs[("t", 0)].log_end_offset == 2


def test_in_memory(tmp_path: Path) -> None:
    manager = LogManager(None, in_memory=True)
    log = manager.create("t", 0)
    log.append(make_batch(2), leader_epoch=0, now_ms=NOW)
    assert log.read(0, 1000).size > 0
    assert manager.load_all() == {("t", 0): log}
    assert manager.enforce_retention(NOW) == 0
    manager.flush_all()
    assert manager.delete("t", 0)
    manager.close_all()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError):
        LogManager(None)
