"""The in-process store's fault methods: isolation, healing and expiry, as ZooKeeper shows them to a broker."""
from __future__ import annotations

import anyio
import pytest

from kbroker.cluster.memory_store import MemoryStore
from kbroker.cluster.store import ConnectionLoss, SessionExpired, ensure_path

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_isolated_session_expires_and_loses_its_ephemerals() -> None:
    store = MemoryStore(session_timeout_ms=100)
    a, b = store.session(), store.session()
    states: list[str] = []
    a.add_state_listener(states.append)
    await ensure_path(b, "/brokers/ids")
    await a.create("/brokers/ids/1", b"", ephemeral=True)
    a.isolate()
    with pytest.raises(ConnectionLoss):
        await a.get("/brokers/ids/1")
    assert await b.children("/brokers/ids") == ["1"]  # still alive until the timeout
    with anyio.fail_after(5):
        while await b.children("/brokers/ids"):
            await anyio.sleep(0.02)
    assert states == ["suspended", "expired"]
    with pytest.raises(SessionExpired):
        await a.get("/brokers/ids")


async def test_healed_session_hears_what_it_missed() -> None:
    store = MemoryStore(session_timeout_ms=10_000)
    a, b = store.session(), store.session()
    await ensure_path(b, "/c")
    heard = anyio.Event()
    await a.get("/c", watch=lambda e: heard.set())
    a.isolate()
    await b.set("/c", b"new")
    await anyio.sleep(0.05)
    assert not heard.is_set()
    a.heal()
    with anyio.fail_after(5):
        await heard.wait()
    assert (await a.get("/c"))[0] == b"new"
