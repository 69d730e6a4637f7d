"""The multi-process cluster tooling: SubprocessCluster's kill/stop/start keep each broker's id, port and data, and
`make cluster` (python -m kbroker.testing.subprocess_cluster) brings up ZooKeeper and three brokers and stops all on Ctrl-C."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kbroker.testing import zookeeper
from kbroker.testing.subprocess_cluster import SubprocessCluster

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("zookeeper_required")


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def test_kill_stop_start_keep_id_port_and_data(zookeeper_server, tmp_path: Path) -> None:
    cluster = SubprocessCluster(3, data_dir=tmp_path, connect_string=zookeeper_server.connect_string_for("sc"))
    with cluster:
        ports = dict(cluster.ports)
        assert cluster.bootstrap == ",".join(f"127.0.0.1:{ports[i]}" for i in (1, 2, 3))
        assert all(_answers(p) for p in ports.values())
        cluster.kill(2)
        assert not cluster.alive(2) and cluster.brokers[2].proc.returncode == -signal.SIGKILL
        assert not _answers(ports[2])
        cluster.stop(3)
        assert not cluster.alive(3) and cluster.brokers[3].proc.returncode == 0
        cluster.start(2)
        cluster.start(3)
        assert cluster.ports == ports and all(_answers(p) for p in ports.values())
        for i in (1, 2, 3):
            assert (tmp_path / f"broker-{i}").is_dir()
            assert f"--node-id {i}" in " ".join(cluster.brokers[i].args())
            assert f"zookeeper.connect={zookeeper_server.hosts}/sc" in " ".join(cluster.brokers[i].args())
    assert not any(cluster.alive(i) for i in (1, 2, 3))
    assert zookeeper_server.alive()  # not the cluster's: left running


def _free_run(count: int) -> int:
    """A base port with base+1..base+count free (checked, not reserved: good enough for one test)."""
    for _ in range(50):
        base = zookeeper.free_port() - 1
        if all(not _answers(base + i) for i in range(1, count + 1)) and base + count < 65536:
            return base
    raise RuntimeError("no run of free ports")


def test_make_cluster_starts_everything_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    base = _free_run(3)
    zk_port = zookeeper.free_port()
    proc = subprocess.Popen([sys.executable, "-m", "kbroker.testing.subprocess_cluster", "--data-dir", str(tmp_path),
                             "--base-port", str(base), "--zookeeper-port", str(zk_port)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    up = threading.Event()

    def pump() -> None:
        assert proc.stdout
        for line in proc.stdout:
            lines.append(line)
            if "cluster up" in line:
                up.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        assert up.wait(120), "".join(lines)
        assert f"bootstrap.servers=127.0.0.1:{base + 1},127.0.0.1:{base + 2},127.0.0.1:{base + 3}" in "".join(lines)
        assert zookeeper.four_letter_word("127.0.0.1", zk_port).startswith("Zookeeper version")
        assert all(_answers(base + i) for i in (1, 2, 3))
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (any(_answers(base + i) for i in (1, 2, 3)) or _answers(zk_port)):
        time.sleep(0.1)
    assert not any(_answers(base + i) for i in (1, 2, 3)) and not _answers(zk_port)
    assert "stopped." in "".join(lines)
    for i in (1, 2, 3):
        assert "kbroker ready" in (tmp_path / f"broker-{i}.log").read_text()
    assert (tmp_path / "zookeeper" / "data" / "version-2").is_dir()
