"""ClusterMetadata against a znode created between its two reads.

The cache reads a znode with get and, when that finds nothing, sets a watch for its creation with exists. On
ZooKeeper each is a round trip, so another broker can create the znode in between: the controller that wins the
election right after the previous one's session expired, or the controller writing a partition's first state.
The exists then finds the znode, and its watch only fires on the *next* change; a cache that took that as
"absent" showed no controller (or no leader) until something else changed — found by the SIGKILL test in
test_zookeeper_cluster.py ("a known controller and leader: not within 60 s"). The in-process store never
suspends between the two calls, so these tests force the interleaving: the other broker's create runs, on its
own real session, just before the watched broker's exists reaches the store. They run on both backends.
"""
from __future__ import annotations

from typing import Callable

import anyio
import pytest

from kbroker.cluster import paths
from kbroker.cluster.metadata import ClusterMetadata
from kbroker.cluster.paths import PartitionState
from kbroker.cluster.store import ConnectionLoss, Op, Stat, StoreSession, Watch

pytestmark = pytest.mark.anyio


class CreatedBeforeExists(StoreSession):
    """A real session, except that just before its first exists(`path`) the other broker's `create` runs."""

    def __init__(self, inner: StoreSession, path: str, create) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.path = path
        self._create = create
        self.raced = False

    @property
    def session_id(self) -> int:
        return self.inner.session_id

    async def exists(self, path: str, watch: Watch | None = None) -> Stat | None:
        if path == self.path and not self.raced:
            self.raced = True
            await self._create()
        return await self.inner.exists(path, watch)

    async def create(self, path: str, data: bytes = b"", *, ephemeral: bool = False, sequential: bool = False,
                     makepath: bool = False) -> str:
        return await self.inner.create(path, data, ephemeral=ephemeral, sequential=sequential, makepath=makepath)

    async def get(self, path: str, watch: Watch | None = None) -> tuple[bytes, Stat]:
        return await self.inner.get(path, watch)

    async def set(self, path: str, data: bytes, version: int = -1) -> Stat:
        return await self.inner.set(path, data, version)

    async def delete(self, path: str, version: int = -1, *, recursive: bool = False) -> None:
        await self.inner.delete(path, version, recursive=recursive)

    async def children(self, path: str, watch: Watch | None = None) -> list[str]:
        return await self.inner.children(path, watch)

    async def multi(self, ops: list[Op]) -> list[str | Stat | None]:
        return await self.inner.multi(ops)

    def add_state_listener(self, listener: Callable[[str], None]) -> None:
        self.inner.add_state_listener(listener)

    async def close(self) -> None:
        await self.inner.close()


async def _eventually(md: ClusterMetadata, condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Whether the cache, refreshed by its watches, gets to `condition` within `timeout`."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(md.run)
        with anyio.move_on_after(timeout):
            while not condition():
                await md.wait_changed(md.generation, 0.1)
        tg.cancel_scope.cancel()
    return condition()


async def test_a_controller_elected_between_get_and_exists_is_seen(store_factory) -> None:
    other = await store_factory()  # broker 1, about to win the election
    ours = CreatedBeforeExists(
        await store_factory(), paths.CONTROLLER,
        lambda: other.create(paths.CONTROLLER, paths.encode_controller(1), ephemeral=True))
    md = ClusterMetadata(ours, 2)
    await md.load()
    assert ours.raced, "the interleaving under test did not happen"
    assert await _eventually(md, lambda: md.controller_id == 1), \
        f"broker 2 sees controller {md.controller_id} while /controller names broker 1"


async def test_a_partition_state_written_between_get_and_exists_is_seen(store_factory) -> None:
    controller = await store_factory()
    first = PartitionState(1, 0, (1, 2), 1)

    async def write_first_state() -> None:
        await controller.create(paths.state_path("orders", 0), first.encode())

    ours = CreatedBeforeExists(await store_factory(), paths.state_path("orders", 0), write_first_state)
    md = ClusterMetadata(ours, 2)
    await md.load()
    await md.create_topic("orders", {0: [1, 2]}, {})
    await controller.create(paths.partition_path("orders", 0), b"", makepath=True)
    md.invalidate_all()
    assert await _eventually(md, lambda: ours.raced and md.leader_of("orders", 0) == 1), \
        f"broker 2 sees leader {md.leader_of('orders', 0)} while the state znode names broker 1 (raced: {ours.raced})"
    assert md.states[("orders", 0)].isr == (1, 2)


class CreateReplyLost(CreatedBeforeExists):
    """A real session whose first create of `path` is applied, but the answer is lost (ConnectionLoss), as when
    the connection to ZooKeeper drops after the server applied the request."""

    def __init__(self, inner: StoreSession, path: str) -> None:
        super().__init__(inner, "", None)
        self.lost_path = path
        self.lost = False

    async def create(self, path: str, data: bytes = b"", *, ephemeral: bool = False, sequential: bool = False,
                     makepath: bool = False) -> str:
        created = await self.inner.create(path, data, ephemeral=ephemeral, sequential=sequential, makepath=makepath)
        if path == self.lost_path and not self.lost:
            self.lost = True
            raise ConnectionLoss(f"the answer to create {path} was lost")
        return created


async def test_registration_whose_answer_was_lost_finds_its_own_znode(store_factory) -> None:
    """The retry of a broker's registration meets NodeExists on the znode its first try created: the znode's owner
    is this session (Kafka's checkedEphemeralCreate), so the broker is registered — not waiting for an expiry that
    never comes."""
    from kbroker.app import Settings, start_broker
    from kbroker.config import BrokerConfig

    session = CreateReplyLost(await store_factory(), paths.broker_path(1))

    async def connect() -> StoreSession:
        return session

    settings = Settings(host="127.0.0.1", port=0, data_dir=None, store_connect=connect)
    with anyio.fail_after(20):
        async with start_broker(settings, BrokerConfig({"node.id": "1"})) as running:
            assert session.lost, "the lost answer under test did not happen"
            assert running.broker.cluster.registered
            stat = await session.exists(paths.broker_path(1))
            assert stat is not None and stat.ephemeral_owner == session.session_id
