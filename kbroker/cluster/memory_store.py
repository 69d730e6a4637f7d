"""The in-process coordination store: ZooKeeper's data model and session semantics in a dict, shared by the
brokers of one process (`kbroker serve` alone is a cluster of one on it; `kbroker cluster --brokers N` and the
tests put N brokers on one).

Faults that a real ensemble shows are methods here, so tests are fast and deterministic: `isolate()` cuts a
session off (its calls raise ConnectionLoss, it hears no watches) until `heal()`, and a session that stays cut off
for its timeout expires — its ephemerals vanish and the others' watches fire, as when ZooKeeper loses a broker.
`abandon()` is a session whose owner died without closing it (kill -9): it expires after its timeout.

Watches are fired after the write that triggers them is applied, in the writer's call, synchronously: a watch
callback must only note the event (set an anyio.Event, send to a stream), never block or call back into the
store. Everything runs on one event loop; asyncio's loop carries the expiry timers.
"""
from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from kbroker.cluster.store import (
    BadVersion, Check, ConnectionLoss, Create, Delete, NodeExists, NoNode, NotEmpty, Op, SessionExpired, SetData,
    Stat, StoreSession, Watch, WatchedEvent,
)

log = logging.getLogger(__name__)


@dataclass
class _Node:
    data: bytes
    stat: Stat
    children: set[str] = field(default_factory=set)


def _parent(path: str) -> str:
    head = path.rsplit("/", 1)[0]
    return head or "/"


def _name(path: str) -> str:
    return path.rsplit("/", 1)[1]


def _check_path(path: str) -> None:
    if not path.startswith("/") or (path != "/" and path.endswith("/")) or "//" in path:
        raise ValueError(f"invalid znode path {path!r}")


class MemoryStore:
    """The ensemble: one tree, many sessions."""

    def __init__(self, *, session_timeout_ms: int = 6000, path: Path | None = None) -> None:
        """`path`: a file the persistent znodes are saved to after every write and loaded from here (a
        cluster in one process that restarts keeps its metadata); None keeps the tree in memory only."""
        self.session_timeout_ms = session_timeout_ms
        self.path = path
        self._nodes: dict[str, _Node] = {"/": _Node(b"", Stat(0, 0, 0, 0, 0, 0))}
        self._zxid = itertools.count(1)
        self._session_ids = itertools.count(0x100)
        self.sessions: dict[int, MemorySession] = {}
        # one-shot watches: path -> [(session id, callback)]
        self._data_watches: dict[str, list[tuple[int, Watch]]] = {}
        self._child_watches: dict[str, list[tuple[int, Watch]]] = {}
        if path is not None and path.exists():
            self._load(path)

    # -- persistence (persistent znodes only: ephemerals die with the process anyway)

    def _load(self, path: Path) -> None:
        saved = json.loads(path.read_text())
        top = 0
        for entry in sorted(saved["nodes"], key=lambda e: e["path"].count("/")):
            p = entry["path"]
            stat = Stat(entry["version"], entry["czxid"], entry["mzxid"], 0, 0, entry["cversion"])
            self._nodes[p] = _Node(base64.b64decode(entry["data"]), stat)
            top = max(top, entry["mzxid"], entry["czxid"])
            if p != "/":
                parent = self._nodes[_parent(p)]
                parent.children.add(_name(p))
                parent.stat = replace(parent.stat, num_children=len(parent.children))
        self._zxid = itertools.count(top + 1)

    def _save(self) -> None:
        if self.path is None:
            return
        nodes = [{"path": p, "data": base64.b64encode(n.data).decode(), "version": n.stat.version,
                  "czxid": n.stat.czxid, "mzxid": n.stat.mzxid, "cversion": n.stat.cversion}
                 for p, n in self._nodes.items() if not n.stat.ephemeral_owner]
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"version": 1, "nodes": nodes}))
        os.replace(tmp, self.path)

    def session(self, *, timeout_ms: int | None = None) -> "MemorySession":
        """A new connected session."""
        sid = next(self._session_ids)
        session = MemorySession(self, sid, timeout_ms if timeout_ms is not None else self.session_timeout_ms)
        self.sessions[sid] = session
        return session

    # -- reads and writes (called by MemorySession after its state checks)

    def _get(self, path: str) -> _Node:
        _check_path(path)
        node = self._nodes.get(path)
        if node is None:
            raise NoNode(path)
        return node

    def _apply(self, op: Op, owner: int, fired: list[tuple[Watch, WatchedEvent]], nodes: dict[str, _Node]) -> str | Stat | None:
        """Apply one op to `nodes` (the tree or a copy of it, for multi); collects the watches to fire."""
        if isinstance(op, Check):
            node = nodes.get(op.path)
            if node is None:
                raise NoNode(op.path)
            if op.version != -1 and node.stat.version != op.version:
                raise BadVersion(op.path)
            return None
        if isinstance(op, Create):
            _check_path(op.path)
            parent_path = _parent(op.path)
            parent = nodes.get(parent_path)
            if parent is None:
                raise NoNode(parent_path)
            if parent.stat.ephemeral_owner:
                raise NoNode(f"{parent_path} is ephemeral and cannot have children")
            path = op.path
            if op.sequential:
                path = f"{op.path}{parent.stat.cversion:010d}"
            if path in nodes:
                raise NodeExists(path)
            zxid = next(self._zxid)
            nodes[path] = _Node(op.data, Stat(0, zxid, zxid, owner if op.ephemeral else 0, 0, 0))
            parent.children.add(_name(path))
            parent.stat = replace(parent.stat, num_children=len(parent.children), cversion=parent.stat.cversion + 1)
            self._collect(self._data_watches, path, WatchedEvent("created", path), fired)
            self._collect(self._child_watches, parent_path, WatchedEvent("child", parent_path), fired)
            return path
        if isinstance(op, SetData):
            node = nodes.get(op.path)
            if node is None:
                raise NoNode(op.path)
            if op.version != -1 and node.stat.version != op.version:
                raise BadVersion(op.path)
            node.data = op.data
            node.stat = replace(node.stat, version=node.stat.version + 1, mzxid=next(self._zxid))
            self._collect(self._data_watches, op.path, WatchedEvent("changed", op.path), fired)
            return node.stat
        if isinstance(op, Delete):
            node = nodes.get(op.path)
            if node is None or op.path == "/":
                raise NoNode(op.path)
            if op.version != -1 and node.stat.version != op.version:
                raise BadVersion(op.path)
            if node.children:
                raise NotEmpty(op.path)
            del nodes[op.path]
            parent_path = _parent(op.path)
            parent = nodes[parent_path]
            parent.children.discard(_name(op.path))
            parent.stat = replace(parent.stat, num_children=len(parent.children), cversion=parent.stat.cversion + 1)
            deleted = WatchedEvent("deleted", op.path)
            self._collect(self._data_watches, op.path, deleted, fired)
            self._collect(self._child_watches, op.path, deleted, fired)
            self._collect(self._child_watches, parent_path, WatchedEvent("child", parent_path), fired)
            return None
        raise TypeError(f"unknown op {op!r}")

    def _collect(self, table: dict[str, list[tuple[int, Watch]]], path: str, event: WatchedEvent,
                 fired: list[tuple[Watch, WatchedEvent]]) -> None:
        for sid, callback in table.pop(path, []):
            session = self.sessions.get(sid)
            if session is None or session.state == "expired":
                continue
            if session.state == "suspended":
                session._pending.append((callback, event))  # heard when the connection comes back
            else:
                fired.append((callback, event))

    def _write(self, ops: list[Op], owner: int) -> list[str | Stat | None]:
        """Apply ops all or none: each op's touched znodes are saved first and put back if a later op fails."""
        fired: list[tuple[Watch, WatchedEvent]] = []
        undo: list[tuple[str, _Node | None]] = []
        # a single op fails before it changes anything; only a multi needs its watches put back
        saved_watches = (dict(self._data_watches), dict(self._child_watches)) if len(ops) > 1 else None
        results: list[str | Stat | None] = []
        try:
            for op in ops:
                for path in (op.path, _parent(op.path)):
                    node = self._nodes.get(path)
                    undo.append((path, None if node is None else _Node(node.data, node.stat, set(node.children))))
                result = self._apply(op, owner, fired, self._nodes)
                if isinstance(result, str) and result != op.path:  # a sequential create
                    undo.append((result, None))
                results.append(result)
        except Exception:
            for path, node in reversed(undo):
                if node is None:
                    self._nodes.pop(path, None)
                else:
                    self._nodes[path] = node
            if saved_watches is not None:
                self._data_watches, self._child_watches = saved_watches
            raise
        if self.path is not None and any(not (isinstance(op, Create) and op.ephemeral) and not isinstance(op, Check)
                                         for op in ops):
            self._save()
        _fire(fired)
        return results

    def _watch(self, table: dict[str, list[tuple[int, Watch]]], path: str, sid: int, watch: Watch | None) -> None:
        if watch is not None:
            table.setdefault(path, []).append((sid, watch))

    def _expire(self, session: "MemorySession") -> None:
        if session.state == "expired":
            return
        session.state = "expired"
        session._pending.clear()
        if session._timer is not None:
            session._timer.cancel()
        for path in sorted((p for p, n in self._nodes.items() if n.stat.ephemeral_owner == session.session_id),
                           key=len, reverse=True):
            try:
                self._write([Delete(path)], session.session_id)
            except (NoNode, NotEmpty):
                pass
        for table in (self._data_watches, self._child_watches):
            for path in list(table):
                table[path] = [(sid, w) for sid, w in table[path] if sid != session.session_id]
        self.sessions.pop(session.session_id, None)
        session._notify("expired")


def _fire(fired: list[tuple[Watch, WatchedEvent]]) -> None:
    for callback, event in fired:
        try:
            callback(event)
        except Exception:  # one broken watcher must not break the writer
            log.exception("watch callback failed for %s", event)


class MemorySession(StoreSession):
    def __init__(self, store: MemoryStore, session_id: int, timeout_ms: int) -> None:
        self._store = store
        self._id = session_id
        self.timeout_ms = timeout_ms
        self.state = "connected"
        self._listeners: list[Callable[[str], None]] = []
        self._pending: list[tuple[Watch, WatchedEvent]] = []
        self._timer: asyncio.TimerHandle | None = None

    @property
    def session_id(self) -> int:
        return self._id

    def _ready(self) -> None:
        if self.state == "expired":
            raise SessionExpired(f"session 0x{self._id:x} has expired")
        if self.state == "suspended":
            raise ConnectionLoss(f"session 0x{self._id:x} cannot reach the store")

    def _notify(self, state: str) -> None:
        for listener in list(self._listeners):
            try:
                listener(state)
            except Exception:
                log.exception("session state listener failed")

    # -- StoreSession

    async def create(self, path: str, data: bytes = b"", *, ephemeral: bool = False, sequential: bool = False,
                     makepath: bool = False) -> str:
        self._ready()
        if makepath:
            parts = path.strip("/").split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                parent = "/" + "/".join(parts[:depth])
                if parent not in self._store._nodes:
                    self._store._write([Create(parent)], self._id)
        result = self._store._write([Create(path, data, ephemeral, sequential)], self._id)[0]
        assert isinstance(result, str)
        return result

    async def get(self, path: str, watch: Watch | None = None) -> tuple[bytes, Stat]:
        self._ready()
        node = self._store._get(path)
        self._store._watch(self._store._data_watches, path, self._id, watch)
        return node.data, node.stat

    async def exists(self, path: str, watch: Watch | None = None) -> Stat | None:
        self._ready()
        _check_path(path)
        node = self._store._nodes.get(path)
        self._store._watch(self._store._data_watches, path, self._id, watch)
        return node.stat if node is not None else None

    async def set(self, path: str, data: bytes, version: int = -1) -> Stat:
        self._ready()
        result = self._store._write([SetData(path, data, version)], self._id)[0]
        assert isinstance(result, Stat)
        return result

    async def delete(self, path: str, version: int = -1, *, recursive: bool = False) -> None:
        self._ready()
        if recursive:
            node = self._store._get(path)
            if version != -1 and node.stat.version != version:
                raise BadVersion(path)
            below = sorted((p for p in self._store._nodes if p.startswith(path + "/")), key=len, reverse=True)
            self._store._write([Delete(p) for p in below] + [Delete(path)], self._id)
            return
        self._store._write([Delete(path, version)], self._id)

    async def children(self, path: str, watch: Watch | None = None) -> list[str]:
        self._ready()
        node = self._store._get(path)
        self._store._watch(self._store._child_watches, path, self._id, watch)
        return sorted(node.children)

    async def multi(self, ops: list[Op]) -> list[str | Stat | None]:
        self._ready()
        return self._store._write(list(ops), self._id)

    def add_state_listener(self, listener: Callable[[str], None]) -> None:
        self._listeners.append(listener)

    async def close(self) -> None:
        if self.state != "expired":
            self._store._expire(self)

    # -- faults, for tests and `kbroker cluster`

    def isolate(self) -> None:
        """Cut the session off: calls raise ConnectionLoss, watches wait; it expires after its timeout unless
        healed first."""
        if self.state != "connected":
            return
        self.state = "suspended"
        self._timer = asyncio.get_running_loop().call_later(self.timeout_ms / 1000, self._store._expire, self)
        self._notify("suspended")

    def heal(self) -> None:
        """Reconnect a cut-off session that has not expired yet; the watches that fired meanwhile are heard now."""
        if self.state != "suspended":
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.state = "connected"
        self._notify("connected")
        pending, self._pending = self._pending, []
        _fire(pending)

    def abandon(self) -> None:
        """The owner died without closing (kill -9): the session expires after its timeout."""
        self.isolate()

    def expire(self) -> None:
        """Expire now (ZooKeeper's session expiry, without waiting for the timeout)."""
        self._store._expire(self)
