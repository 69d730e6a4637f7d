"""Debian's kcat (librdkafka 2.0.2): metadata listing and a 10,000-message keyed round trip per codec."""
from __future__ import annotations

import shutil
import subprocess

import pytest

KCAT = shutil.which("kcat") or shutil.which("kafkacat")
pytestmark = [pytest.mark.kcat, pytest.mark.skipif(KCAT is None, reason="kcat is not installed")]

COUNT = 10_000


def kcat(*args: str, stdin: str | None = None, timeout: float = 120) -> str:
    proc = subprocess.run([KCAT, *args], input=stdin, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"kcat {' '.join(args)} failed: {proc.stderr[-2000:]}"
    return proc.stdout


def test_list_metadata(shared_broker) -> None:
    kcat("-b", shared_broker.bootstrap, "-P", "-t", "kcat-listed", stdin="hello\n")
    out = kcat("-b", shared_broker.bootstrap, "-L")
    assert "1 brokers:" in out
    assert f"127.0.0.1:{shared_broker.port}" in out
    assert 'topic "kcat-listed" with 1 partitions' in out


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_keyed_roundtrip(shared_broker, codec: str) -> None:
    topic = f"kcat-{codec}"
    lines = [f"key{i % 97}:value {i} {'x' * (i % 50)}" for i in range(COUNT)]
    kcat("-b", shared_broker.bootstrap, "-P", "-t", topic, "-K", ":", "-z", codec, "-X", "acks=all",
         stdin="\n".join(lines) + "\n")
    out = kcat("-b", shared_broker.bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-f", "%k:%s\\n")
    assert out.splitlines() == lines
