"""A standalone ZooKeeper server for tests and `make cluster`: the installed ZooKeeper (Debian's `zookeeper`
package, or an Apache tarball named by ZOOKEEPER_HOME) run as a child process on a free port with its data in a
directory of its own. Nothing system-wide is started or changed.

    from kbroker.testing.zookeeper import ZooKeeperServer
    with ZooKeeperServer() as zk:
        print(zk.connect_string)      # 127.0.0.1:PORT
"""
from __future__ import annotations

import atexit
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

MAIN = "org.apache.zookeeper.server.ZooKeeperServerMain"
DEBIAN_JARS = ("/usr/share/java/zookeeper.jar",)  # its manifest's Class-Path names every dependency
LOGGER_JARS = ("/usr/share/java/slf4j-simple.jar",)  # optional: without it ZooKeeper logs nothing
_running: "weakref.WeakSet[ZooKeeperServer]" = weakref.WeakSet()


class ZooKeeperNotInstalled(RuntimeError):
    """No java or no ZooKeeper jars on this machine."""


def find_classpath() -> str:
    """The classpath of the installed ZooKeeper server; ZooKeeperNotInstalled when there is none."""
    home = os.environ.get("ZOOKEEPER_HOME")
    if home:
        jars = sorted(glob.glob(os.path.join(home, "lib", "*.jar")) + glob.glob(os.path.join(home, "*.jar")))
        if jars:
            return os.pathsep.join(jars)
    for jar in DEBIAN_JARS:
        if os.path.exists(jar):
            return os.pathsep.join([jar] + [j for j in LOGGER_JARS if os.path.exists(j)])
    raise ZooKeeperNotInstalled("ZooKeeper is not installed (apt-get install zookeeper, or set ZOOKEEPER_HOME)")


def find_java() -> str:
    java = os.environ.get("JAVA") or shutil.which("java")
    if not java or not os.access(java, os.X_OK):
        raise ZooKeeperNotInstalled("no java on PATH (ZooKeeper needs a JRE: apt-get install zookeeper brings one)")
    return java


def installed() -> str | None:
    """None when a server can be started here, else why not."""
    try:
        find_java()
        find_classpath()
    except ZooKeeperNotInstalled as e:
        return str(e)
    return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def four_letter_word(host: str, port: int, word: str = "srvr", timeout: float = 2.0) -> str:
    """Send one of ZooKeeper's four-letter commands; the answer ('' when nothing answers)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(word.encode())
            chunks = []
            while chunk := s.recv(4096):
                chunks.append(chunk)
            return b"".join(chunks).decode(errors="replace")
    except OSError:
        return ""


class ZooKeeperServer:
    """One standalone ZooKeeper. `port=0` picks a free port at the first start; a restart (stop, then start)
    keeps the port and the data, so sessions can survive it as they do on a real ensemble."""

    def __init__(self, data_dir: Path | str | None = None, *, port: int = 0, host: str = "127.0.0.1",
                 tick_time_ms: int = 500, max_session_timeout_ms: int = 60000, heap: str = "128m") -> None:
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir) if data_dir is not None else Path(tempfile.mkdtemp(prefix="kbroker-zk-"))
        self.host = host
        self.port = port
        self.tick_time_ms = tick_time_ms
        self.max_session_timeout_ms = max_session_timeout_ms
        self.heap = heap
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def hosts(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def connect_string(self) -> str:
        return self.hosts

    def connect_string_for(self, chroot: str) -> str:
        return f"{self.hosts}/{chroot.strip('/')}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "zookeeper.log"

    def _write_config(self) -> Path:
        config = self.data_dir / "zoo.cfg"
        config.write_text("\n".join([
            f"tickTime={self.tick_time_ms}",
            f"dataDir={self.data_dir / 'data'}",
            f"clientPort={self.port}",
            f"clientPortAddress={self.host}",
            "maxClientCnxns=0",
            f"minSessionTimeout={2 * self.tick_time_ms}",
            f"maxSessionTimeout={self.max_session_timeout_ms}",
            "admin.enableServer=false",  # its Jetty would take port 8080
            "4lw.commands.whitelist=srvr,ruok,mntr,cons",
            "",
        ]))
        return config

    def args(self, config: Path) -> list[str]:
        return [find_java(), f"-Xmx{self.heap}", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-Dzookeeper.admin.enableServer=false", "-cp", find_classpath(), MAIN, str(config)]

    def start(self, timeout: float = 60.0) -> "ZooKeeperServer":
        """Start and wait until it answers; RuntimeError (with its log) if it does not within `timeout`."""
        if self.alive():
            return self
        chosen = self.port
        for attempt in range(3):
            if not chosen:
                self.port = free_port(self.host)
            (self.data_dir / "data").mkdir(parents=True, exist_ok=True)
            config = self._write_config()
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(self.args(config), stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, start_new_session=True)
            _running.add(self)
            try:
                self.wait_ready(timeout)
                return self
            except RuntimeError:
                self.kill()
                if chosen or "Address already in use" not in self.log_tail():
                    raise
        raise RuntimeError("ZooKeeper found no free port:\n" + self.log_tail())

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"ZooKeeper exited with {self.proc.returncode}:\n{self.log_tail()}")
            if four_letter_word(self.host, self.port).startswith("Zookeeper version"):
                return
            time.sleep(0.1)
        raise RuntimeError(f"ZooKeeper did not answer on {self.hosts} within {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (ZooKeeper shuts down cleanly), SIGKILL after `timeout`."""
        if not self.alive():
            return
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(10)

    def close(self) -> None:
        """Stop, and delete the data directory when this object made it."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> "ZooKeeperServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def expire_session(hosts: str, session_id: int, password: bytes, timeout: float = 30.0) -> None:
    """Expire a live session the way ZooKeeper's own tests do: a second client takes the session over (same id
    and password) and closes it, so the server ends the session and deletes its ephemerals at once."""
    from kazoo.client import KazooClient

    other = KazooClient(hosts=hosts, client_id=(session_id, password), timeout=timeout)
    other.start(timeout)
    try:
        other.stop()
    finally:
        other.close()


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_running):
        try:
            server.kill()
        except Exception:
            pass
