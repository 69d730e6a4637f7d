"""Fixtures for the cluster layer: coordination-store backends.

`store_factory` yields a function that opens a new session on one shared ensemble; the contract tests run against
every backend available here (the in-process store always; ZooKeeper when a server can be started or is given).
"""
from __future__ import annotations

from typing import AsyncIterator, Awaitable, Callable

import pytest

from kbroker.cluster.memory_store import MemoryStore
from kbroker.cluster.store import StoreSession

SessionFactory = Callable[[], Awaitable[StoreSession]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["memory"])
async def store_factory(request: pytest.FixtureRequest) -> AsyncIterator[SessionFactory]:
    sessions: list[StoreSession] = []
    if request.param == "memory":
        store = MemoryStore(session_timeout_ms=200)

        async def open_session() -> StoreSession:
            session = store.session()
            sessions.append(session)
            return session
    else:  # pragma: no cover - other backends are added beside this one
        raise AssertionError(request.param)
    yield open_session
    for session in sessions:
        try:
            await session.close()
        except Exception:
            pass
