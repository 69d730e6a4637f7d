"""Checkpoint files: Kafka's text layout, atomic replacement, malformed files reported."""
from __future__ import annotations

import pytest

from kbroker.log.checkpoint import CheckpointError, CheckpointFile, OffsetCheckpoint
from kbroker.log.storage import Directory


def test_round_trip(directory: Directory) -> None:
    checkpoint = CheckpointFile(directory, "cp", 2)
    assert checkpoint.read() is None
    checkpoint.write([(1, 2), (3, 4)])
    assert directory.read_bytes("cp") == b"0\n2\n1 2\n3 4\n"
    assert checkpoint.read() == [(1, 2), (3, 4)]
    checkpoint.write([])
    assert checkpoint.read() == []
    assert not directory.exists("cp.tmp")


@pytest.mark.parametrize("content", [b"", b"1\n0\n", b"0\n2\n1 2\n", b"0\nx\n", b"0\n1\n1 2 3\n", b"\xff\n"])
def test_malformed(directory: Directory, content: bytes) -> None:
    directory.write_atomic("cp", content)
    with pytest.raises(CheckpointError):
        CheckpointFile(directory, "cp", 2).read()


def test_offset_checkpoint(directory: Directory) -> None:
    checkpoint = OffsetCheckpoint(directory, "offset")
    assert checkpoint.read() is None
    checkpoint.write(42)
    assert checkpoint.read() == 42
    directory.write_atomic("offset", b"0\n1\n-3\n")
    with pytest.raises(CheckpointError):
        checkpoint.read()
