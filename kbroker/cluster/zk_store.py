"""The ZooKeeper backend of the coordination store (`zookeeper.connect`), on kazoo.

kazoo runs its own threads (connection, callbacks, completions); everything it reports is handed to the session
owner's event loop with `call_soon_threadsafe`, so watches and state listeners run there, as on the in-process
backend. Requests use kazoo's asynchronous calls (no thread is blocked per call) and every call is bounded by the
session timeout.

Three places where kazoo differs from what the store promises, and what this module does about them:
- kazoo drops every watch when the connection drops (it has no SetWatches): the watches are kept here and set
  again once the connection is back; a change made meanwhile is reported then, as ZooKeeper's Java client does.
  Where that cannot be told (setting it again fails while connected), the watch fires anyway: a spurious
  "changed"/"child" makes the owner read again, where a lost one would leave it deaf.
- kazoo opens a new session by itself after an expiry: here an expired session stays dead (calls raise
  SessionExpired) and its client is stopped; the owner opens a new session, as Kafka's broker does.
- a client cut off from the ensemble cannot learn that its session expired: after a whole session timeout
  without a connection the session is given up here (Curator does the same), since the ensemble will have
  expired it and deleted its ephemerals by then.

kazoo is imported when `connect` is called, so `kbroker serve` without ZooKeeper never loads it.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from kbroker.cluster import store
from kbroker.cluster.store import (
    Check, ConnectionLoss, Create, Delete, Op, SessionExpired, SetData, Stat, StoreSession, Watch, WatchedEvent,
)

if TYPE_CHECKING:  # pragma: no cover
    from kazoo.client import KazooClient

log = logging.getLogger(__name__)

_RECURSIVE_DELETE_ATTEMPTS = 5


def split_connect_string(connect_string: str) -> tuple[str, str]:
    """("host:port,host:port", "/chroot" or "") from Kafka's zookeeper.connect syntax."""
    hosts, slash, chroot = connect_string.strip().partition("/")
    if not hosts:
        raise ValueError(f"zookeeper.connect {connect_string!r} names no server")
    chroot = ("/" + chroot).rstrip("/") if slash else ""
    if "//" in chroot:
        raise ValueError(f"invalid chroot in zookeeper.connect {connect_string!r}")
    return hosts, chroot


async def connect(connect_string: str, *, session_timeout_ms: int = 18000,
                  connection_timeout_ms: int = 18000) -> "ZkSession":
    """A new session on the ensemble of `connect_string` ("host:port[,host:port...][/chroot]"); the chroot is
    created if missing. ConnectionLoss if no server answers within connection_timeout_ms."""
    from kazoo.client import KazooClient
    from kazoo.retry import KazooRetry

    hosts, chroot = split_connect_string(connect_string)
    # reconnect forever (the session decides when to give up), quickly at first
    retry = KazooRetry(max_tries=-1, delay=0.1, backoff=2, max_delay=1.0)
    client = KazooClient(hosts=hosts, timeout=session_timeout_ms / 1000, connection_retry=retry)
    loop = asyncio.get_running_loop()
    abandoned = threading.Event()

    def start() -> None:
        client.start(connection_timeout_ms / 1000)
        if abandoned.is_set():  # the caller was cancelled meanwhile: nobody will close this session
            client.stop()
            client.close()

    try:
        await asyncio.to_thread(start)
    except asyncio.CancelledError:
        abandoned.set()
        raise
    except Exception as e:  # kazoo's timeout exception depends on its handler
        raise ConnectionLoss(f"cannot reach ZooKeeper at {hosts} within {connection_timeout_ms} ms") from e
    session = ZkSession(client, loop, session_timeout_ms)
    try:
        if chroot:
            await asyncio.wait_for(asyncio.to_thread(client.ensure_path, chroot), connection_timeout_ms / 1000)
            client.chroot = chroot  # from now on every path is below it, and kazoo strips it from answers
    except BaseException as e:
        await session.close()
        if isinstance(e, Exception):
            raise _translate(e) from e
        raise
    return session


def _translate(error: BaseException) -> BaseException:
    """kazoo's exception as the store's (others unchanged)."""
    from kazoo import exceptions as kz

    for kazoo_type, store_type in ((kz.NoNodeError, store.NoNode), (kz.NoChildrenForEphemeralsError, store.NoNode),
                                   (kz.NodeExistsError, store.NodeExists), (kz.BadVersionError, store.BadVersion),
                                   (kz.NotEmptyError, store.NotEmpty), (kz.SessionExpiredError, SessionExpired),
                                   (kz.ConnectionLoss, ConnectionLoss), (kz.ConnectionDropped, ConnectionLoss),
                                   (kz.OperationTimeoutError, ConnectionLoss)):
        if isinstance(error, kazoo_type):
            return store_type(str(error) or type(error).__name__)
    return error


def _stat(zstat: Any) -> Stat:
    return Stat(version=zstat.version, czxid=zstat.czxid, mzxid=zstat.mzxid,
                ephemeral_owner=zstat.ephemeralOwner, num_children=zstat.numChildren, cversion=zstat.cversion)


@dataclass(eq=False)
class _Watch:
    """One registration: fired at most once, kept across connection drops (see the module's docstring)."""
    callback: Watch
    path: str
    children: bool
    seen: Any
    """What the read returned: the stat (or None for an absent znode); for children, the parent's stat."""
    fired: bool = False
    armed: bool = False
    """Its read has answered (and `seen` is set)."""


class ZkSession(StoreSession):
    def __init__(self, client: "KazooClient", loop: asyncio.AbstractEventLoop, session_timeout_ms: int) -> None:
        from kazoo.protocol.states import EventType, KazooState

        self._client = client
        self._loop = loop
        self._timeout = session_timeout_ms / 1000
        self._id: int = client.client_id[0] if client.client_id else 0
        self.state = "connected"
        self._listeners: list[Callable[[str], None]] = []
        self._watches: set[_Watch] = set()
        self._tasks: set[asyncio.Task[None]] = set()  # re-arming watches (held: the loop keeps weak references)
        self._lost: list[_Watch] = []  # watches kazoo dropped with the connection, set again on reconnect
        self._give_up: asyncio.TimerHandle | None = None
        self._stopping: asyncio.Future[None] | None = None
        self._event_types = {EventType.CREATED: "created", EventType.DELETED: "deleted",
                             EventType.CHANGED: "changed", EventType.CHILD: "child"}
        self._kazoo_states = {KazooState.CONNECTED: "connected", KazooState.SUSPENDED: "suspended",
                              KazooState.LOST: "expired"}
        client.add_listener(self._from_kazoo_state)

    @property
    def session_id(self) -> int:
        return self._id

    @property
    def client_id(self) -> tuple[int, bytes]:
        """(session id, password): what another client needs to take the session over (tests expire it so)."""
        return self._client.client_id or (self._id, b"")

    # -- kazoo's threads -> the owner's loop

    def _hop(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the owner's loop is closed: nobody is listening any more
            pass

    def _from_kazoo_state(self, state: Any) -> None:
        self._hop(self._on_state, self._kazoo_states.get(state, "suspended"))

    def _kazoo_watcher(self, watch: _Watch) -> Callable[[Any], None]:
        def watcher(event: Any) -> None:
            self._hop(self._on_event, watch, event.type)
        return watcher

    # -- on the loop

    def _on_state(self, state: str) -> None:
        if self.state == "expired" or state == self.state:
            return
        if state == "expired":
            self._expire("ZooKeeper expired the session")
            return
        self.state = state
        if state == "suspended":
            self._give_up = self._loop.call_later(self._timeout, self._expire, "no connection for a session timeout")
        elif self._give_up is not None:
            self._give_up.cancel()
            self._give_up = None
        self._notify(state)
        if state == "connected" and self._lost:
            lost, self._lost = self._lost, []
            for watch in lost:
                self._spawn(self._rearm(watch))

    def _spawn(self, coro: Any) -> None:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_event(self, watch: _Watch, kazoo_type: Any) -> None:
        if watch.fired or self.state == "expired":
            return
        event_type = self._event_types.get(kazoo_type)
        if event_type is None:  # kazoo dropped the watch with the connection
            if self.state == "connected":  # heard after the reconnect already: set it again now
                self._spawn(self._rearm(watch))
            else:
                self._lost.append(watch)
            return
        self._fire(watch, event_type)

    def _fire(self, watch: _Watch, event_type: str) -> None:
        watch.fired = True
        self._watches.discard(watch)
        try:
            watch.callback(WatchedEvent(event_type, watch.path, self.state))
        except Exception:  # one broken watcher must not break the others
            log.exception("watch callback failed for %s %s", event_type, watch.path)

    async def _rearm(self, watch: _Watch) -> None:
        """Set a dropped watch again; fire it now if its znode changed while the connection was down."""
        if watch.fired:
            return
        if not watch.armed:  # dropped before its read's answer was even seen: tell the owner to read again
            self._fire(watch, "child" if watch.children else "changed")
            return
        try:
            if watch.children:
                try:
                    _, zstat = await self._call(
                        lambda: self._client.get_children_async(watch.path, self._kazoo_watcher(watch), True))
                except store.NoNode:
                    if not watch.fired:
                        self._fire(watch, "deleted")
                    return
                if not watch.fired and zstat.czxid != watch.seen.czxid:
                    self._fire(watch, "deleted")  # deleted and created anew meanwhile
                elif not watch.fired and zstat.pzxid != watch.seen.pzxid:
                    self._fire(watch, "child")
                return
            zstat = await self._call(lambda: self._client.exists_async(watch.path, self._kazoo_watcher(watch)))
        except ConnectionLoss:
            if watch.fired or self.state == "expired":
                return
            if self.state == "suspended":
                self._lost.append(watch)  # dropped again: set it at the next reconnect
            else:  # no answer in time although connected: tell the owner to read again rather than go deaf
                self._fire(watch, "child" if watch.children else "changed")
            return
        except SessionExpired:
            return
        except Exception:
            log.exception("setting the watch on %s again failed", watch.path)
            if not watch.fired and self.state != "expired":
                self._fire(watch, "child" if watch.children else "changed")
            return
        if watch.fired:
            return
        if watch.seen is None and zstat is not None:
            self._fire(watch, "created")
        elif watch.seen is not None and (zstat is None or zstat.czxid != watch.seen.czxid):
            self._fire(watch, "deleted")  # gone (perhaps created anew since): the watched znode was deleted
        elif watch.seen is not None and zstat.mzxid != watch.seen.mzxid:
            self._fire(watch, "changed")

    def _notify(self, state: str) -> None:
        for listener in list(self._listeners):
            try:
                listener(state)
            except Exception:
                log.exception("session state listener failed")

    def _expire(self, why: str) -> None:
        if self.state == "expired":
            return
        log.info("ZooKeeper session 0x%x is gone: %s", self._id, why)
        self.state = "expired"
        if self._give_up is not None:
            self._give_up.cancel()
            self._give_up = None
        self._watches.clear()
        self._lost.clear()
        self._stopping = self._loop.create_task(self._stop_client())  # kazoo would open a new session by itself
        self._notify("expired")

    async def _stop_client(self) -> None:
        def stop() -> None:
            self._client.stop()
            self._client.close()
        try:
            await asyncio.wait_for(asyncio.to_thread(stop), self._timeout)
        except Exception:
            log.warning("stopping the ZooKeeper client of session 0x%x failed", self._id, exc_info=True)

    # -- calls

    def _ready(self) -> None:
        if self.state == "expired":
            raise SessionExpired(f"session 0x{self._id:x} has expired")
        if self.state == "suspended":
            raise ConnectionLoss(f"session 0x{self._id:x} has no connection to ZooKeeper")

    async def _call(self, start: Callable[[], Any]) -> Any:
        """Run one kazoo *_async call and await its result on this loop, bounded by the session timeout."""
        self._ready()
        future: asyncio.Future[Any] = self._loop.create_future()

        def settle(outcome: Any) -> None:
            if future.done():
                return
            try:
                future.set_result(outcome.get_nowait())
            except Exception as e:
                future.set_exception(e)

        try:
            start().rawlink(lambda outcome: self._hop(settle, outcome))
            return await asyncio.wait_for(future, self._timeout)
        except asyncio.TimeoutError:
            raise ConnectionLoss(f"no answer from ZooKeeper within {self._timeout:g} s") from None
        except Exception as e:
            translated = _translate(e)
            if translated is e:
                raise
            raise translated from e

    def _register(self, callback: Watch | None, path: str, children: bool) -> _Watch | None:
        if callback is None:
            return None
        watch = _Watch(callback, path, children, None)
        self._watches.add(watch)
        return watch

    def _armed(self, watch: _Watch | None, seen: Any) -> None:
        if watch is not None:
            watch.seen = seen
            watch.armed = True

    def _unregister(self, watch: _Watch | None) -> None:
        """The read failed: the server set no watch (or we will not hear it)."""
        if watch is not None:
            watch.fired = True
            self._watches.discard(watch)

    # -- StoreSession

    async def create(self, path: str, data: bytes = b"", *, ephemeral: bool = False, sequential: bool = False,
                     makepath: bool = False) -> str:
        return await self._call(lambda: self._client.create_async(
            path, data, ephemeral=ephemeral, sequence=sequential, makepath=makepath))

    async def get(self, path: str, watch: Watch | None = None) -> tuple[bytes, Stat]:
        w = self._register(watch, path, False)
        try:
            data, zstat = await self._call(
                lambda: self._client.get_async(path, self._kazoo_watcher(w) if w else None))
        except BaseException:
            self._unregister(w)
            raise
        self._armed(w, zstat)
        return data, _stat(zstat)

    async def exists(self, path: str, watch: Watch | None = None) -> Stat | None:
        w = self._register(watch, path, False)
        try:
            zstat = await self._call(lambda: self._client.exists_async(path, self._kazoo_watcher(w) if w else None))
        except BaseException:
            self._unregister(w)
            raise
        self._armed(w, zstat)
        return None if zstat is None else _stat(zstat)

    async def set(self, path: str, data: bytes, version: int = -1) -> Stat:
        return _stat(await self._call(lambda: self._client.set_async(path, data, version)))

    async def delete(self, path: str, version: int = -1, *, recursive: bool = False) -> None:
        if not recursive:
            await self._call(lambda: self._client.delete_async(path, version))
            return
        # the subtree, deepest first, in one multi: all of it or nothing, like the in-process backend
        for attempt in range(_RECURSIVE_DELETE_ATTEMPTS):
            below = await self._subtree(path)
            try:
                await self.multi([Delete(p) for p in reversed(below)] + [Delete(path, version)])
                return
            except (store.NotEmpty, store.NoNode):
                if attempt == _RECURSIVE_DELETE_ATTEMPTS - 1 or await self.exists(path) is None:
                    raise  # gone meanwhile (NoNode), or changing faster than we can delete it

    async def _subtree(self, path: str) -> list[str]:
        """Every znode below `path`, parents before children."""
        found: list[str] = []
        level = [path]
        while level:
            nxt: list[str] = []
            for parent in level:
                try:
                    names = await self.children(parent)
                except store.NoNode:
                    if parent == path:
                        raise
                    continue
                nxt.extend(f"{parent.rstrip('/')}/{name}" for name in names)
            found.extend(nxt)
            level = nxt
        return found

    async def children(self, path: str, watch: Watch | None = None) -> list[str]:
        w = self._register(watch, path, True)
        try:
            names, zstat = await self._call(
                lambda: self._client.get_children_async(path, self._kazoo_watcher(w) if w else None, True))
        except BaseException:
            self._unregister(w)
            raise
        self._armed(w, zstat)
        return sorted(names)

    async def multi(self, ops: list[Op]) -> list[str | Stat | None]:
        def start() -> Any:
            txn = self._client.transaction()
            for op in ops:
                if isinstance(op, Create):
                    txn.create(op.path, op.data, ephemeral=op.ephemeral, sequence=op.sequential)
                elif isinstance(op, SetData):
                    txn.set_data(op.path, op.data, op.version)
                elif isinstance(op, Delete):
                    txn.delete(op.path, op.version)
                elif isinstance(op, Check):
                    txn.check(op.path, op.version)
                else:
                    raise TypeError(f"unknown op {op!r}")
            return txn.commit_async()

        if not ops:
            return []
        results = await self._call(start)
        from kazoo.exceptions import RolledBackError

        failures = [r for r in results if isinstance(r, Exception) and not isinstance(r, RolledBackError)]
        if failures:
            raise _translate(failures[0]) from failures[0]
        out: list[str | Stat | None] = []
        for op, result in zip(ops, results):
            if isinstance(op, Create):
                out.append(result)
            elif isinstance(op, SetData):
                out.append(_stat(result))
            else:
                out.append(None)
        return out

    def add_state_listener(self, listener: Callable[[str], None]) -> None:
        self._listeners.append(listener)

    async def close(self) -> None:
        """End the session: ZooKeeper deletes its ephemerals (and fires their watches) at once."""
        if self.state != "expired":
            self._expire("closed by its owner")
        if self._stopping is not None:
            await asyncio.shield(self._stopping)
