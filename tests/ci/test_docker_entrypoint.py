"""The image's ENTRYPOINT and health check, run without Docker: the same shell line with `kbroker` on PATH, the
port and data volume moved to free/temporary ones. (Building the image needs an engine: tests/broker.)"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _entrypoint() -> list[str]:
    text = (ROOT / "docker" / "Dockerfile").read_text()
    m = re.search(r"^ENTRYPOINT (\[.*\])\s*$", text, re.M)
    assert m, "Dockerfile has an exec-form ENTRYPOINT"
    return json.loads(m.group(1))


def test_dockerfile_installs_like_make_run_with_metrics() -> None:
    text = (ROOT / "docker" / "Dockerfile").read_text()
    assert re.search(r'pip install --no-cache-dir "\.\[metrics\]"', text)
    for needed in ("pyproject.toml", "kbroker", "wire"):
        assert re.search(rf"^COPY .*\b{re.escape(needed)}\b", text, re.M), needed


def test_entrypoint_serves_and_passes_extra_arguments(tmp_path: Path) -> None:
    pytest.importorskip("prometheus_client")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "kbroker").write_text(f"#!/bin/sh\nexec {sys.executable} -m kbroker \"$@\"\n")
    (shim / "kbroker").chmod(0o755)
    argv = [a.replace("0.0.0.0:9092", f"127.0.0.1:{port}").replace("/data", str(tmp_path / "data"))
            for a in _entrypoint()]
    env = {**os.environ, "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}", "KBROKER_ADVERTISED": f"127.0.0.1:{port}",
           "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(argv + ["--metrics-listen", "127.0.0.1:0"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 30
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "kbroker ready" in line:
                break
        text = "".join(lines)
        assert f"advertised as 127.0.0.1:{port}" in text, text
        assert "kbroker metrics: http://" in text, text
        health = subprocess.run([sys.executable, str(ROOT / "docker" / "healthcheck.py"), f"127.0.0.1:{port}"],
                                timeout=30)
        assert health.returncode == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
