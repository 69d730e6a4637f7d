"""The coordination store's contract (ZooKeeper semantics), run against every backend: what the cluster layer
relies on for fencing (versions, multi), liveness (ephemerals, expiry) and change notification (one-shot watches)."""
from __future__ import annotations

import anyio
import pytest

from kbroker.cluster.store import (
    BadVersion, Check, Create, Delete, NodeExists, NoNode, NotEmpty, SetData, WatchedEvent, ensure_path,
)

pytestmark = pytest.mark.anyio


async def test_create_get_set_versions(store_factory) -> None:
    s = await store_factory()
    await ensure_path(s, "/t/a")
    await s.set("/t/a", b"one")
    data, stat = await s.get("/t/a")
    assert data == b"one" and stat.version == 1
    stat2 = await s.set("/t/a", b"two", version=1)
    assert stat2.version == 2
    with pytest.raises(BadVersion):
        await s.set("/t/a", b"stale", version=1)
    assert (await s.get("/t/a"))[0] == b"two"
    with pytest.raises(NodeExists):
        await s.create("/t/a", b"x")
    with pytest.raises(NoNode):
        await s.create("/missing/child", b"x")
    with pytest.raises(NoNode):
        await s.get("/t/none")
    assert await s.exists("/t/none") is None


async def test_children_sequential_and_delete(store_factory) -> None:
    s = await store_factory()
    await ensure_path(s, "/q")
    first = await s.create("/q/item-", b"", sequential=True)
    second = await s.create("/q/item-", b"", sequential=True)
    assert first < second and first.startswith("/q/item-")
    assert await s.children("/q") == sorted([first.rsplit("/", 1)[1], second.rsplit("/", 1)[1]])
    with pytest.raises(NotEmpty):
        await s.delete("/q")
    await s.delete("/q", recursive=True)
    assert await s.exists("/q") is None


async def test_multi_is_all_or_nothing(store_factory) -> None:
    s = await store_factory()
    await ensure_path(s, "/m/epoch")
    epoch = (await s.get("/m/epoch"))[1].version
    with pytest.raises(BadVersion):
        await s.multi([Create("/m/new", b"x"), Check("/m/epoch", epoch + 5), SetData("/m/epoch", b"y")])
    assert await s.exists("/m/new") is None
    assert (await s.get("/m/epoch"))[0] == b""
    results = await s.multi([Check("/m/epoch", epoch), Create("/m/new", b"x"), Create("/m/new/c", b"c"),
                             SetData("/m/epoch", b"y"), Delete("/m/new/c")])
    assert results[1] == "/m/new" and results[2] == "/m/new/c"
    assert (await s.get("/m/epoch"))[0] == b"y"
    assert await s.children("/m/new") == []


async def test_watches_fire_once(store_factory) -> None:
    s = await store_factory()
    other = await store_factory()
    await ensure_path(s, "/w/node")
    events: list[WatchedEvent] = []
    got = anyio.Event()

    def watch(event: WatchedEvent) -> None:
        events.append(event)
        got.set()

    await s.get("/w/node", watch=watch)
    await other.set("/w/node", b"1")
    with anyio.fail_after(10):
        await got.wait()
    await other.set("/w/node", b"2")  # one-shot: no second event without a new watch
    await anyio.sleep(0.2)
    assert [(e.type, e.path) for e in events] == [("changed", "/w/node")]

    children_changed = anyio.Event()
    await s.children("/w", watch=lambda e: children_changed.set())
    await other.create("/w/second", b"")
    with anyio.fail_after(10):
        await children_changed.wait()


async def test_ephemeral_vanishes_with_its_session(store_factory) -> None:
    owner = await store_factory()
    watcher = await store_factory()
    await ensure_path(watcher, "/brokers/ids")
    await owner.create("/brokers/ids/1", b"{}", ephemeral=True)
    stat = await watcher.exists("/brokers/ids/1")
    assert stat is not None and stat.ephemeral_owner == owner.session_id
    gone = anyio.Event()
    await watcher.exists("/brokers/ids/1", watch=lambda e: gone.set() if e.type == "deleted" else None)
    await owner.close()
    with anyio.fail_after(20):
        await gone.wait()
    assert await watcher.children("/brokers/ids") == []
