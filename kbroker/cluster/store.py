"""The coordination store: what kbroker's cluster layer needs from ZooKeeper, as an interface.

The cluster layer (broker registration, controller election, topic assignments, partition states, configs) is
written once over this interface, with Kafka's ZooKeeper-era znode layout (see paths.py once it exists); the
in-process backend (memory_store.py) and the ZooKeeper backend (zk_store.py) both implement it with ZooKeeper's
semantics, so that tests on the fast in-process backend exercise the same code as a real ZooKeeper cluster:

- a tree of znodes, each with bytes and a version that every write increments; a write names the version it
  expects (-1: any) and fails with BadVersion otherwise — this is how a stale controller or leader is fenced;
- ephemeral znodes belong to the session that created them and vanish when it closes or expires;
- watches are one-shot: registered by a read, fired once on the next change of that znode (or its children), as
  a plain callable run on the event loop of the session's owner (never in another thread, never blocking);
- `multi` applies several operations atomically, all or none (Kafka fences controller writes with a check on
  /controller_epoch's version in the same transaction).

Every call is bounded: a backend that cannot reach its service within the session timeout raises
ConnectionLoss, and a session that has expired raises SessionExpired from then on.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Callable, Union

Watch = Callable[["WatchedEvent"], None]


class StoreError(Exception):
    """Base of the store's errors."""


class NoNode(StoreError):
    """The znode (or, for create, its parent) does not exist."""


class NodeExists(StoreError):
    """create() of a znode that exists."""


class BadVersion(StoreError):
    """A conditional write named a version the znode no longer has."""


class NotEmpty(StoreError):
    """delete() of a znode that has children (without recursive)."""


class ConnectionLoss(StoreError):
    """The service could not be reached; the session may still be alive. Retry or step back."""


class SessionExpired(StoreError):
    """The session is gone (its ephemerals too); the owner must start a new session and re-register."""


@dataclass(frozen=True)
class Stat:
    version: int
    """Data version: incremented by every set()."""
    czxid: int
    """Id of the transaction that created the znode (Kafka uses the broker znode's as the broker epoch)."""
    mzxid: int
    """Id of the transaction that last modified it."""
    ephemeral_owner: int
    """Session id of the owner of an ephemeral znode, 0 for a persistent one."""
    num_children: int
    cversion: int
    """Children version: incremented by every create or delete of a child."""


@dataclass(frozen=True)
class WatchedEvent:
    type: str
    """"created", "deleted", "changed", "child" (a child was added or removed), or "session" (state change)."""
    path: str
    state: str = "connected"
    """"connected", "suspended" (connection lost, session may live), "expired"."""


# -- operations for multi()

@dataclass(frozen=True)
class Create:
    path: str
    data: bytes = b""
    ephemeral: bool = False
    sequential: bool = False


@dataclass(frozen=True)
class SetData:
    path: str
    data: bytes
    version: int = -1


@dataclass(frozen=True)
class Delete:
    path: str
    version: int = -1


@dataclass(frozen=True)
class Check:
    path: str
    version: int


Op = Union[Create, SetData, Delete, Check]


class StoreSession(abc.ABC):
    """One broker's session with the coordination service. Paths are absolute ("/brokers/ids/1"); a chroot, when
    the connect string has one, is applied by the backend and invisible here."""

    @property
    @abc.abstractmethod
    def session_id(self) -> int: ...

    @abc.abstractmethod
    async def create(self, path: str, data: bytes = b"", *, ephemeral: bool = False, sequential: bool = False,
                     makepath: bool = False) -> str:
        """Create a znode; the path created (with the sequence suffix when sequential). NodeExists, or NoNode
        for a missing parent unless makepath (which creates missing parents as empty persistent znodes)."""

    @abc.abstractmethod
    async def get(self, path: str, watch: Watch | None = None) -> tuple[bytes, Stat]:
        """Data and stat; NoNode if absent. The watch fires on the next change or deletion."""

    @abc.abstractmethod
    async def exists(self, path: str, watch: Watch | None = None) -> Stat | None:
        """Stat or None. The watch fires on creation, change or deletion."""

    @abc.abstractmethod
    async def set(self, path: str, data: bytes, version: int = -1) -> Stat:
        """Replace the data if the version matches (-1: any); the new stat. NoNode, BadVersion."""

    @abc.abstractmethod
    async def delete(self, path: str, version: int = -1, *, recursive: bool = False) -> None:
        """Delete (with its subtree when recursive). NoNode, BadVersion, NotEmpty."""

    @abc.abstractmethod
    async def children(self, path: str, watch: Watch | None = None) -> list[str]:
        """Names of the children, sorted; NoNode if absent. The watch fires when a child is added or removed
        (or the znode deleted)."""

    @abc.abstractmethod
    async def multi(self, ops: list[Op]) -> list[str | Stat | None]:
        """Apply all ops or none; per op: the created path, the new stat, or None. On failure raises the error
        of the first op that failed (BadVersion, NoNode, NodeExists, NotEmpty) and changes nothing."""

    @abc.abstractmethod
    def add_state_listener(self, listener: Callable[[str], None]) -> None:
        """Called on the owner's event loop with "connected", "suspended" or "expired" as the session's state
        changes."""

    @abc.abstractmethod
    async def close(self) -> None:
        """End the session: its ephemerals are deleted (and their watches fire) at once."""


async def ensure_path(session: StoreSession, path: str) -> None:
    """Create a persistent znode and its parents if missing (no-op when it exists)."""
    try:
        await session.create(path, b"", makepath=True)
    except NodeExists:
        pass
