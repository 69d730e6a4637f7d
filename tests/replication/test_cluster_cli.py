"""`kbroker cluster --brokers 3`: three brokers in one process on PORT, PORT+1, PORT+2, replicating; with
--data-dir the cluster keeps its topics and data across a restart."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

confluent_kafka = pytest.importorskip("confluent_kafka")
import confluent_kafka.admin  # noqa: E402

READY = re.compile(r"kbroker cluster ready: 3 brokers, bootstrap (\S+),")


def _free_block(count: int) -> int:
    """A base port with `count` free ports after it (checked by binding each; the OS picks the first)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count > 65535:
            continue
        sockets = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no block of free ports")


def _start(args: list[str]) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "kbroker", "cluster", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 30
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        match = READY.search(line)
        if match:
            return proc, match.group(1)
    proc.kill()
    raise AssertionError("kbroker cluster did not start")


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def test_cluster_command_runs_three_replicating_brokers_that_keep_their_data(tmp_path: Path) -> None:
    base = _free_block(3)
    args = ["--brokers", "3", "--listen", f"127.0.0.1:{base}", "--data-dir", str(tmp_path / "data"),
            "--log-level", "WARNING"]
    proc, bootstrap = _start(args)
    try:
        assert bootstrap == ",".join(f"127.0.0.1:{base + i}" for i in range(3))
        admin = confluent_kafka.admin.AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([confluent_kafka.admin.NewTopic("cli", 1, 3)])["cli"].result(15)
        producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "acks": "all"})
        for i in range(10):
            producer.produce("cli", b"v%d" % i, partition=0)
        assert producer.flush(30) == 0
        meta = admin.list_topics("cli", timeout=10)
        assert sorted(meta.brokers) == [1, 2, 3]
        assert sorted(meta.topics["cli"].partitions[0].isrs) == [1, 2, 3]
    finally:
        _stop(proc)
    proc, bootstrap = _start(args)
    try:
        consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": "cli-check",
                                             "auto.offset.reset": "earliest"})
        consumer.assign([confluent_kafka.TopicPartition("cli", 0, 0)])
        got: list[bytes] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(got) < 10:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                got.append(msg.value())
        consumer.close()
        assert got == [b"v%d" % i for i in range(10)]
    finally:
        _stop(proc)
