"""Fixtures for the cluster layer: coordination-store backends.

`store_factory` yields a function that opens a new session on one shared ensemble; the contract tests run against
every backend: the in-process store always, and a real ZooKeeper (kbroker.testing.zookeeper) started once per test
session. Without ZooKeeper installed the ZooKeeper runs are skipped, saying so; under CI (CI=true, which installs
it) they fail instead, so a broken install cannot pass as skipped.
"""
from __future__ import annotations

import itertools
import os
from typing import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from kbroker.cluster.memory_store import MemoryStore
from kbroker.cluster.store import StoreSession
from kbroker.testing import zookeeper

SessionFactory = Callable[[], Awaitable[StoreSession]]
_chroots = itertools.count(1)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def zookeeper_required() -> None:
    """Skip (fail under CI) unless a ZooKeeper server can be started here."""
    missing = zookeeper.installed()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the ZooKeeper tests: {missing}")
        pytest.skip(missing)


@pytest.fixture(scope="session")
def zookeeper_server(zookeeper_required: None,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[zookeeper.ZooKeeperServer]:
    """One standalone ZooKeeper for the whole test session (each test works under a chroot of its own)."""
    server = zookeeper.ZooKeeperServer(tmp_path_factory.mktemp("zookeeper"))
    server.start()
    yield server
    server.close()


@pytest.fixture
def zk_chroot(request: pytest.FixtureRequest, zookeeper_server: zookeeper.ZooKeeperServer) -> str:
    """A connect string with a fresh chroot, so tests on the shared server never see each other's znodes."""
    return zookeeper_server.connect_string_for(f"t{next(_chroots)}-{request.node.name[:40]}".replace("[", "-")
                                               .replace("]", ""))


@pytest.fixture(params=["memory", "zookeeper"])
async def store_factory(request: pytest.FixtureRequest) -> AsyncIterator[SessionFactory]:
    sessions: list[StoreSession] = []
    if request.param == "memory":
        store = MemoryStore(session_timeout_ms=200)

        async def open_session() -> StoreSession:
            session = store.session()
            sessions.append(session)
            return session
    else:
        from kbroker.cluster.zk_store import connect

        connect_string = request.getfixturevalue("zk_chroot")

        async def open_session() -> StoreSession:
            session = await connect(connect_string, session_timeout_ms=4000, connection_timeout_ms=10000)
            sessions.append(session)
            return session
    yield open_session
    for session in sessions:
        try:
            await session.close()
        except Exception:
            pass
