"""Broker fixtures: a real kbroker in a subprocess on a free port, reached over real sockets."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[1]
READY = re.compile(r"kbroker ready: listening on [^ ]+:(\d+)")


class BrokerProcess:
    """`python -m kbroker serve` as a child process; every wait on it is bounded."""

    def __init__(self, data_dir: Path | None, *extra: str, port: int = 0) -> None:
        self.data_dir = data_dir
        self.extra = list(extra)
        self.port = port
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> "BrokerProcess":
        args = [sys.executable, "-m", "kbroker", "serve", "--listen", f"127.0.0.1:{self.port}"]
        args += ["--in-memory"] if self.data_dir is None else ["--data-dir", str(self.data_dir)]
        args += self.extra
        self.output = []
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        ready = threading.Event()

        def pump() -> None:
            assert self.proc and self.proc.stdout
            for line in self.proc.stdout:
                self.output.append(line)
                m = READY.search(line)
                if m and not ready.is_set():
                    self.port = int(m.group(1))
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("kbroker did not become ready:\n" + "".join(self.output[-50:]))
        return self

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError("kbroker did not stop within the timeout")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    """A broker with its own data directory, for one test."""
    b = BrokerProcess(tmp_path / "data").start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def shared_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """One broker for a whole test module (tests use their own topic names)."""
    b = BrokerProcess(tmp_path_factory.mktemp("shared") / "data").start()
    yield b
    b.stop()
