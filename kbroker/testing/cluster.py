"""A cluster of kbrokers in one process for tests: N brokers on one event loop (a background thread), sharing one
in-process coordination store, with the faults a real cluster shows as method calls.

    from kbroker.testing.cluster import KafkaCluster
    with KafkaCluster(brokers=3) as cluster:
        cluster.create_topic("t", partitions=1, replication_factor=3)
        leader = cluster.leader("t", 0)
        cluster.kill(leader)          # no clean shutdown: its store session is abandoned and expires
        cluster.wait_for_leader("t", 0, not_in={leader})
        cluster.start(leader)         # same id, port and data directory

- stop(id): a clean shutdown (its session closes: the others learn at once);
- kill(id): as kill -9 (nothing closed or flushed; the session expires after store_session_timeout_ms);
- start(id): start a stopped or killed broker again, on the same port and data;
- isolate(id) / heal(id): the broker keeps running and serving its clients, but cannot reach or be reached by the
  other brokers, nor the store (its session expires if isolated for longer than the timeout).
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from kbroker.testing.client import WireClient


class KafkaCluster:
    def __init__(self, brokers: int = 3, *, data_dir: Path | None = None, in_memory: bool = False,
                 config: dict[str, Any] | None = None, session_timeout_ms: int = 2000, host: str = "127.0.0.1",
                 base_port: int = 0, racks: dict[int, str] | None = None) -> None:
        self.count = brokers
        self.host = host
        self.base_port = base_port
        self.config = {"replica.lag.time.max.ms": "3000", "replica.fetch.wait.max.ms": "200",
                       "replica.fetch.backoff.ms": "100", **{k: str(v) for k, v in (config or {}).items()}}
        self.session_timeout_ms = session_timeout_ms
        self.racks = racks or {}
        self._owned: tempfile.TemporaryDirectory | None = None
        if data_dir is None and not in_memory:
            self._owned = tempfile.TemporaryDirectory(prefix="kbroker-cluster-")
            data_dir = Path(self._owned.name)
        self.data_dir = data_dir
        self.ports: dict[int, int] = {}
        self._running: dict[int, tuple[Any, Any]] = {}  # id -> (context manager, Running)
        self._portal_cm: Any = None
        self._portal: Any = None
        self.store: Any = None
        self.network: Any = None

    # -- the whole cluster

    def __enter__(self) -> "KafkaCluster":
        return self.start_all()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def start_all(self, timeout: float = 30.0) -> "KafkaCluster":
        from anyio.from_thread import start_blocking_portal

        from kbroker.cluster.memory_store import MemoryStore
        from kbroker.cluster.network import Network

        self._portal_cm = start_blocking_portal("asyncio")
        self._portal = self._portal_cm.__enter__()
        store_path = self.data_dir / "cluster-store.json" if self.data_dir is not None else None

        async def make() -> Any:
            return MemoryStore(session_timeout_ms=self.session_timeout_ms, path=store_path)
        self.store = self._portal.call(make)
        self.network = Network()
        for broker_id in range(1, self.count + 1):
            self.start(broker_id, timeout=timeout)
        self.wait_for(lambda: len(self.call_any(lambda b: b.cluster.md.brokers)) == self.count
                      and self.controller() >= 0, timeout, "the brokers to register")
        return self

    def close(self) -> None:
        for broker_id in list(self._running):
            try:
                self.stop(broker_id)
            except Exception:
                pass
        if self._portal_cm is not None:
            self._portal_cm.__exit__(*sys.exc_info())
            self._portal_cm = self._portal = None
        if self._owned is not None:
            self._owned.cleanup()
            self._owned = None

    @property
    def bootstrap(self) -> str:
        return ",".join(f"{self.host}:{self.ports[b]}" for b in sorted(self._running))

    def bootstrap_of(self, broker_id: int) -> str:
        return f"{self.host}:{self.ports[broker_id]}"

    @property
    def alive(self) -> list[int]:
        return sorted(self._running)

    # -- one broker

    def start(self, broker_id: int, timeout: float = 30.0) -> None:
        from kbroker.app import Settings, start_broker
        from kbroker.cluster.store import ConnectionLoss
        from kbroker.config import BrokerConfig

        if broker_id in self._running:
            return
        store, network = self.store, self.network

        async def connect() -> Any:
            if broker_id in network.isolated:
                raise ConnectionLoss(f"broker {broker_id} is cut off from the store")
            return store.session()

        config = BrokerConfig({**self.config, "node.id": str(broker_id)})
        if broker_id in self.racks:
            config.update([("broker.rack", self.racks[broker_id])])
        data_dir = self.data_dir / f"broker-{broker_id}" if self.data_dir is not None else None
        port = self.ports.get(broker_id, self.base_port + broker_id - 1 if self.base_port else 0)
        settings = Settings(host=self.host, port=port, data_dir=data_dir, store_connect=connect, network=network)
        cm = self._portal.wrap_async_context_manager(start_broker(settings, config))
        deadline = time.monotonic() + timeout
        while True:
            try:
                running = cm.__enter__()
                break
            except OSError:  # the port of a just-killed broker may linger for a moment
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
                cm = self._portal.wrap_async_context_manager(start_broker(settings, config))
        self.ports[broker_id] = running.port
        self._running[broker_id] = (cm, running)
        self.wait_for(lambda: self._call(lambda: running.broker.cluster.registered), timeout,
                      f"broker {broker_id} to register")

    def stop(self, broker_id: int) -> None:
        cm, _ = self._running.pop(broker_id)
        cm.__exit__(None, None, None)

    def kill(self, broker_id: int) -> None:
        cm, running = self._running.pop(broker_id)

        def crash() -> None:
            broker = running.broker
            broker.killed = True
            fd = getattr(broker.logs, "_lock_fd", None)
            if fd is not None:  # a dead process's lock on its data directory goes with it
                os.close(fd)
                broker.logs._lock_fd = None
            session = running.broker.cluster.md.session
            abandon = getattr(session, "abandon", None)
            if abandon is not None:
                abandon()
        self._call(crash)
        cm.__exit__(None, None, None)

    def isolate(self, broker_id: int) -> None:
        _, running = self._running[broker_id]

        def cut() -> None:
            self.network.isolated.add(broker_id)
            running.broker.cluster.md.session.isolate()
        self._call(cut)

    def heal(self, broker_id: int) -> None:
        _, running = self._running[broker_id]

        def mend() -> None:
            self.network.isolated.discard(broker_id)
            running.broker.cluster.md.session.heal()
        self._call(mend)

    def broker(self, broker_id: int) -> Any:
        """The Broker object (white-box checks; touch it only through call())."""
        return self._running[broker_id][1].broker

    # -- looking at the cluster

    def _call(self, fn: Callable[[], Any]) -> Any:
        async def run() -> Any:
            return fn()
        return self._portal.call(run)

    def call(self, broker_id: int, fn: Callable[[Any], Any]) -> Any:
        broker = self.broker(broker_id)
        return self._call(lambda: fn(broker))

    def call_any(self, fn: Callable[[Any], Any]) -> Any:
        """fn(broker) on a live broker not isolated (whose view of the cluster is current)."""
        for broker_id in self.alive:
            if broker_id not in self.network.isolated:
                return self.call(broker_id, fn)
        raise RuntimeError("no live broker")

    def controller(self) -> int:
        return self.call_any(lambda b: b.cluster.md.controller_id)

    def state(self, topic: str, index: int) -> Any:
        """The partition's state znode as the cluster sees it (leader, leader_epoch, isr), or None."""
        return self.call_any(lambda b: b.cluster.md.states.get((topic, index)))

    def leader(self, topic: str, index: int) -> int:
        state = self.state(topic, index)
        return -1 if state is None else state.leader

    def isr(self, topic: str, index: int) -> list[int]:
        state = self.state(topic, index)
        return [] if state is None else list(state.isr)

    def wait_for(self, condition: Callable[[], Any], timeout: float = 30.0, what: str = "the condition") -> Any:
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = condition()
            except (KeyError, RuntimeError, AttributeError):
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(0.05)

    def wait_for_leader(self, topic: str, index: int, *, not_in: set[int] | frozenset[int] = frozenset(),
                        timeout: float = 30.0) -> int:
        return self.wait_for(lambda: (lambda l: l if l >= 0 and l not in not_in and l in self._running else 0)(
            self.leader(topic, index)), timeout, f"a leader of {topic}-{index}")

    def wait_for_isr(self, topic: str, index: int, members: set[int], timeout: float = 30.0) -> list[int]:
        return self.wait_for(lambda: set(self.isr(topic, index)) == set(members) and self.isr(topic, index),
                             timeout, f"ISR {sorted(members)} of {topic}-{index}")

    # -- admin through the wire

    def create_topic(self, name: str, partitions: int = 1, replication_factor: int = 3,
                     config: dict[str, str] | None = None, timeout: float = 30.0) -> str:
        from wire.errors import ErrorCode

        with WireClient(self.bootstrap_of(self.alive[0]), timeout=timeout) as client:
            body = {"topics": [{"name": name, "num_partitions": partitions, "replication_factor": replication_factor,
                                "assignments": [], "configs": [{"name": k, "value": str(v)}
                                                               for k, v in (config or {}).items()]}],
                    "timeout_ms": int(timeout * 1000), "validate_only": False}
            result = client.request(19, 5, body)["topics"][0]
            if result["error_code"] not in (0, ErrorCode.TOPIC_ALREADY_EXISTS):
                raise RuntimeError(f"CreateTopics {name}: {ErrorCode(result['error_code']).name} "
                                   f"{result.get('error_message')}")
        for index in range(partitions):
            self.wait_for_leader(name, index, timeout=timeout)
        return name
