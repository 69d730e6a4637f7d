"""What only a real ZooKeeper shows the ZooKeeper backend: session expiry forced by the server, kazoo's threads
handing watches and states to the event loop, connection loss and recovery across a server restart, chroots."""
from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import anyio
import pytest

from kbroker.cluster.store import (
    BadVersion, Check, ConnectionLoss, Create, Delete, NodeExists, NoNode, NotEmpty, SessionExpired, WatchedEvent,
    ensure_path,
)
from kbroker.cluster.zk_store import ZkSession, connect, split_connect_string
from kbroker.testing import zookeeper

pytestmark = pytest.mark.anyio


async def _wait_for(condition, timeout: float = 20.0) -> None:
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.02)


async def test_forced_expiry_deletes_ephemerals_and_kills_the_session(zookeeper_server, zk_chroot) -> None:
    owner = await connect(zk_chroot, session_timeout_ms=4000)
    watcher = await connect(zk_chroot, session_timeout_ms=4000)
    try:
        await ensure_path(owner, "/brokers/ids")
        await owner.create("/brokers/ids/1", b"{}", ephemeral=True)
        states: list[tuple[str, int]] = []
        owner.add_state_listener(lambda state: states.append((state, threading.get_ident())))
        gone: list[WatchedEvent] = []
        await watcher.exists("/brokers/ids/1", watch=gone.append)

        session_id, password = owner.client_id
        await anyio.to_thread.run_sync(zookeeper.expire_session, zookeeper_server.hosts, session_id, password)

        await _wait_for(lambda: gone)
        assert [(e.type, e.path) for e in gone] == [("deleted", "/brokers/ids/1")]
        assert await watcher.children("/brokers/ids") == []
        await _wait_for(lambda: ("expired", threading.get_ident()) in states)
        with pytest.raises(SessionExpired):
            await owner.get("/brokers/ids")
        with pytest.raises(SessionExpired):
            await owner.create("/brokers/ids/1", b"{}", ephemeral=True)
        # dead for good: kazoo does not quietly open a new session behind the owner's back
        await anyio.sleep(1.0)
        assert owner.state == "expired"
        assert await watcher.children("/brokers/ids") == []
    finally:
        await owner.close()
        await watcher.close()


async def test_watches_and_states_arrive_on_the_event_loop_thread(zk_chroot) -> None:
    loop_thread = threading.get_ident()
    s = await connect(zk_chroot, session_timeout_ms=4000)
    other = await connect(zk_chroot, session_timeout_ms=4000)
    try:
        await ensure_path(s, "/w/node")
        threads: list[tuple[str, int]] = []
        got = anyio.Event()

        def watch(event: WatchedEvent) -> None:
            threads.append((event.type, threading.get_ident()))
            got.set()

        await s.get("/w/node", watch=watch)
        await s.children("/w", watch=watch)
        await s.exists("/w/later", watch=watch)
        await other.set("/w/node", b"1")
        await other.create("/w/later", b"")
        await _wait_for(lambda: len(threads) == 3)
        assert sorted(t for t, _ in threads) == ["changed", "child", "created"]
        assert {ident for _, ident in threads} == {loop_thread}
        # and the loop is free meanwhile: an asyncio task runs while a watch is pending
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            ticks += 1

        await s.get("/w/node", watch=watch)
        await asyncio.gather(tick(), other.set("/w/node", b"2"))
        await _wait_for(lambda: len(threads) == 4)
        assert ticks == 1 and threads[-1] == ("changed", loop_thread)
    finally:
        await s.close()
        await other.close()


async def test_chroot_is_created_and_invisible(zookeeper_server, zk_chroot) -> None:
    chrooted = await connect(zk_chroot + "/deeper", session_timeout_ms=4000)
    root = await connect(zookeeper_server.connect_string, session_timeout_ms=4000)
    try:
        created = await chrooted.create("/x", b"data")
        assert created == "/x"
        assert await chrooted.children("/") == ["x"]
        chroot = "/" + zk_chroot.split("/", 1)[1] + "/deeper"
        assert (await root.get(chroot + "/x"))[0] == b"data"
        seq = await chrooted.create("/x/s-", sequential=True)
        assert seq.startswith("/x/s-")
        results = await chrooted.multi([Create("/y")])
        assert results == ["/y"]
    finally:
        await chrooted.close()
        await root.close()


async def test_unreachable_ensemble_raises_connection_loss_in_time() -> None:
    port = zookeeper.free_port()  # nothing listens there
    began = anyio.current_time()
    with pytest.raises(ConnectionLoss):
        await connect(f"127.0.0.1:{port}", connection_timeout_ms=1500)
    assert anyio.current_time() - began < 15  # bounded (generous: the machine is shared)


def test_connect_string_syntax() -> None:
    assert split_connect_string("h1:2181,h2:2181/kbroker") == ("h1:2181,h2:2181", "/kbroker")
    assert split_connect_string("h:2181") == ("h:2181", "")
    assert split_connect_string("h:2181/") == ("h:2181", "")
    assert split_connect_string("h:2181/a/b/") == ("h:2181", "/a/b")
    with pytest.raises(ValueError):
        split_connect_string("/chroot")


@pytest.fixture
def own_server(zookeeper_required: None, tmp_path: Path):
    """A ZooKeeper of the test's own, which the test may stop and restart (on the same port, with its data)."""
    server = zookeeper.ZooKeeperServer(tmp_path / "zk").start()
    yield server
    server.close()


async def test_watch_survives_a_server_restart(own_server) -> None:
    """kazoo drops watches with the connection; the session sets them again when it reconnects."""
    s = await connect(own_server.connect_string + "/r", session_timeout_ms=10000)
    try:
        states: list[str] = []
        s.add_state_listener(states.append)
        await ensure_path(s, "/node")
        events: list[WatchedEvent] = []
        await s.get("/node", watch=events.append)
        children: list[WatchedEvent] = []
        await s.children("/node", watch=children.append)

        await anyio.to_thread.run_sync(own_server.stop)
        await _wait_for(lambda: "suspended" in states)
        with pytest.raises(ConnectionLoss):
            await s.get("/node")
        await anyio.to_thread.run_sync(own_server.start)
        await _wait_for(lambda: states[-1:] == ["connected"], timeout=30)
        assert events == [] and children == []  # nothing changed: no spurious event

        other = await connect(own_server.connect_string + "/r", session_timeout_ms=10000)
        try:
            await other.set("/node", b"after")
            await other.create("/node/child", b"")
            await _wait_for(lambda: events and children)
        finally:
            await other.close()
        assert [(e.type, e.path) for e in events] == [("changed", "/node")]
        assert [(e.type, e.path) for e in children] == [("child", "/node")]
        assert (await s.get("/node"))[0] == b"after"  # same session, still alive
    finally:
        await s.close()


async def test_session_cut_off_for_its_timeout_is_given_up(own_server) -> None:
    s = await connect(own_server.connect_string, session_timeout_ms=2000)
    try:
        states: list[str] = []
        s.add_state_listener(states.append)
        await anyio.to_thread.run_sync(own_server.stop)
        await _wait_for(lambda: "expired" in states, timeout=20)
        assert states == ["suspended", "expired"]
        with pytest.raises(SessionExpired):
            await s.exists("/")
        # the server coming back does not revive it
        await anyio.to_thread.run_sync(own_server.start)
        await anyio.sleep(1.5)
        assert s.state == "expired" and states == ["suspended", "expired"]
    finally:
        await s.close()
    assert isinstance(s, ZkSession)


async def test_both_backends_raise_the_same_errors(store_factory) -> None:
    """Errors the cluster layer branches on, on both backends (ZooKeeper's come through kazoo's exceptions)."""
    s = await store_factory()
    await ensure_path(s, "/e/eph-parent")
    await s.create("/e/eph", b"", ephemeral=True)
    with pytest.raises(NoNode):
        await s.create("/e/eph/child", b"")  # ephemerals have no children
    with pytest.raises(NodeExists):
        await s.multi([Create("/e/new"), Create("/e/eph")])
    assert await s.exists("/e/new") is None
    with pytest.raises(NoNode):
        await s.multi([Check("/e/missing", 0)])
    with pytest.raises(NotEmpty):
        await s.multi([Delete("/e")])
    with pytest.raises(NoNode):
        await s.set("/e/missing", b"")
    with pytest.raises(NoNode):
        await s.delete("/e/missing", recursive=True)
    with pytest.raises(BadVersion):
        await s.delete("/e", version=7, recursive=True)
    with pytest.raises(BadVersion):
        await s.delete("/e/eph-parent", version=3)
    assert sorted(await s.children("/e")) == ["eph", "eph-parent"]
    await s.create("/e/eph-parent/a/b", b"", makepath=True)
    await s.delete("/e", recursive=True)
    assert await s.exists("/e") is None
    assert await s.multi([]) == []


def test_kazoo_is_loaded_only_when_connecting() -> None:
    """`kbroker serve` without ZooKeeper does not pay for importing kazoo."""
    import subprocess
    import sys

    code = ("import sys, kbroker.cli, kbroker.app, kbroker.cluster.zk_store, kbroker.testing.zookeeper; "
            "assert 'kazoo' not in sys.modules, sorted(m for m in sys.modules if m.startswith('kazoo'))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


class CuttableProxy:
    """A TCP proxy to ZooKeeper that a test can cut (open connections dropped, new ones refused) and restore:
    one session loses the ensemble while the server and the other sessions carry on."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        import socket

        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut_off = threading.Event()
        self.closed = threading.Event()
        self.conns: list = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket

        self.listener.settimeout(0.2)  # wakes up to notice close()
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            if self.cut_off.is_set():
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.close()
            except OSError:
                pass

    def cut(self) -> None:
        import socket

        self.cut_off.set()
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass

    def restore(self) -> None:
        self.cut_off.clear()

    def close(self) -> None:
        self.closed.set()
        self.cut()
        self.listener.close()


@pytest.fixture
def proxy(zookeeper_server):
    p = CuttableProxy((zookeeper_server.host, zookeeper_server.port))
    yield p
    p.close()


async def test_changes_made_while_cut_off_are_reported_on_reconnect(zk_chroot, proxy) -> None:
    chroot = "/" + zk_chroot.split("/", 1)[1]
    watcher = await connect(f"127.0.0.1:{proxy.port}{chroot}", session_timeout_ms=10000)
    writer = await connect(zk_chroot, session_timeout_ms=4000)
    try:
        states: list[str] = []
        watcher.add_state_listener(states.append)
        for name in ("changed", "deleted", "recreated", "kept", "parent"):
            await ensure_path(writer, f"/{name}")
        got: dict[str, list[str]] = {}

        def recorder(name: str):
            return lambda event: got.setdefault(name, []).append(event.type)

        await watcher.get("/changed", watch=recorder("changed"))
        await watcher.exists("/deleted", watch=recorder("deleted"))
        await watcher.get("/recreated", watch=recorder("recreated"))
        await watcher.get("/kept", watch=recorder("kept"))
        await watcher.children("/parent", watch=recorder("parent"))
        await watcher.exists("/born", watch=recorder("born"))

        proxy.cut()
        await _wait_for(lambda: "suspended" in states)
        await writer.set("/changed", b"x")
        await writer.delete("/deleted")
        await writer.delete("/recreated")
        await writer.create("/recreated", b"")
        await writer.create("/parent/child", b"")
        await writer.create("/born", b"")
        await anyio.sleep(0.5)
        assert got == {}  # cut off: nothing heard yet
        proxy.restore()
        await _wait_for(lambda: states[-1:] == ["connected"], timeout=30)
        await _wait_for(lambda: len(got) == 5)
        assert got == {"changed": ["changed"], "deleted": ["deleted"], "recreated": ["deleted"],
                       "parent": ["child"], "born": ["created"]}
        # the untouched one is armed again, once
        await writer.set("/kept", b"later")
        await _wait_for(lambda: "kept" in got)
        await writer.set("/kept", b"again")
        await anyio.sleep(0.3)
        assert got["kept"] == ["changed"]
    finally:
        await watcher.close()
        await writer.close()


async def test_session_cut_off_past_its_timeout_expires_on_the_server_too(zk_chroot, proxy) -> None:
    chroot = "/" + zk_chroot.split("/", 1)[1]
    owner = await connect(f"127.0.0.1:{proxy.port}{chroot}", session_timeout_ms=2000)
    other = await connect(zk_chroot, session_timeout_ms=4000)
    try:
        states: list[str] = []
        owner.add_state_listener(states.append)
        await ensure_path(other, "/brokers/ids")
        await owner.create("/brokers/ids/7", b"", ephemeral=True)
        gone = anyio.Event()
        await other.exists("/brokers/ids/7", watch=lambda e: gone.set())
        proxy.cut()
        with anyio.fail_after(20):
            await gone.wait()  # the server expired it: its ephemeral is deleted for everyone
        await _wait_for(lambda: "expired" in states)
        proxy.restore()
        with pytest.raises(SessionExpired):
            await owner.get("/brokers/ids")
        assert await other.children("/brokers/ids") == []
    finally:
        await owner.close()
        await other.close()
