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
def own_server(tmp_path: Path):
    """A ZooKeeper of the test's own, which the test may stop and restart (on the same port, with its data)."""
    missing = zookeeper.installed()
    if missing:
        pytest.skip(missing)
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
