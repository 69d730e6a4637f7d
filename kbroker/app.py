"""Running a broker: the Broker, its listener and background tasks under one task group.

`run_broker` is what `kbroker serve` calls; `start_broker` lets tests and the pytest plugin run one in-process.
Beside the Kafka listener, a broker may serve Prometheus metrics (`metrics_listen`) and the fault-injection
control endpoint (`control_listen`) over HTTP; every broker carries a `faults` object (kbroker.faults).
"""
from __future__ import annotations

import logging
import os
import signal
import socket
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import anyio

from kbroker.broker import Broker, Endpoint
from kbroker.config import BrokerConfig
from kbroker.coordinator import group_coordinator
from kbroker.coordinator.share import share_coordinator
from kbroker.coordinator.transactions import transaction_coordinator
from kbroker.faults import Faults
from kbroker.security.listeners import Listener
from kbroker.server.listener import Server

log = logging.getLogger("kbroker")


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 9092
    advertised_host: str | None = None
    advertised_port: int | None = None
    data_dir: Path | None = Path("./kbroker-data")  # None: in memory
    metrics_listen: tuple[str, int] | None = None  # serve Prometheus metrics over HTTP there
    control_listen: tuple[str, int] | None = None  # serve the fault-injection endpoint over HTTP there
    control_token: str | None = None  # the token the control endpoint requires (None: a new random one)
    metrics: bool = False  # collect metrics even without an HTTP listener (in-process tests read them directly)
    store_connect: Callable[[], Awaitable[Any]] | None = None
    """Opens this broker's coordination-store session: the broker is then one of a cluster (kbroker.cluster)."""
    network: Any = None  # kbroker.cluster.network.Network shared by in-process brokers (fault injection)


@dataclass
class Running:
    broker: Broker
    server: Server
    port: int
    metrics_port: int | None = None
    control_port: int | None = None
    control_token: str | None = None
    servers: dict[str, Server] | None = None
    """Every listener's server by listener name (the first one is `server`)."""

    def bootstrap_for(self, listener: str) -> str:
        """host:port a client of that listener connects to."""
        endpoint = self.broker.endpoint_for(listener.upper())
        return f"{endpoint.host}:{endpoint.port}"

    @property
    def bootstrap(self) -> str:
        return f"{self.broker.advertised.host}:{self.broker.advertised.port}"


@asynccontextmanager
async def start_broker(settings: Settings, config: BrokerConfig) -> AsyncIterator[Running]:
    """A started broker, listening, until the block exits."""
    host = settings.advertised_host or settings.host
    if host in ("0.0.0.0", "::", ""):
        host = socket.getfqdn()  # a wildcard is no address a client can connect to
    advertised = Endpoint(host, settings.advertised_port or settings.port)
    broker = Broker(config, data_dir=settings.data_dir, advertised=advertised)
    broker.faults = Faults(broker)  # type: ignore[attr-defined]
    node = None
    connect, local = settings.store_connect, False
    if connect is None and config.static.get("zookeeper.connect"):
        connect = _zookeeper(config)
    elif connect is None:  # alone: a cluster of one on this process's own store, kept in the data directory
        connect, local = _own_store(settings.data_dir), True
    try:
        if connect is not None:
            from kbroker.cluster.node import ClusterNode

            node = ClusterNode(broker, connect, settings.network, local=local)
            await node.open()  # the partitions follow the cluster before anyone is served
        async with anyio.create_task_group() as tg:
            servers = _servers(broker, settings)
            server = next(iter(servers.values()))
            if settings.metrics or settings.metrics_listen:
                from kbroker.metrics import Metrics

                broker.metrics = Metrics(broker, server)  # type: ignore[attr-defined]
            for name, one in servers.items():
                bound = await tg.start(one.serve)
                broker.listener_endpoints[name] = _advertise(broker, settings, one.listener, bound, advertised)
            port = server.port
            broker.advertised = broker.listener_endpoints[server.listener.name]
            if node is not None:
                await tg.start(node.run)
            await tg.start(broker.run_background)
            await tg.start(group_coordinator(broker).run)
            await tg.start(share_coordinator(broker).run)
            await tg.start(transaction_coordinator(broker).run)
            token = None
            if settings.control_listen:
                from kbroker.control import new_token

                token = settings.control_token or new_token()
            http_ports = await _start_http(tg, broker, settings, token)
            try:
                yield Running(broker, server, port, http_ports.get("metrics"), http_ports.get("control"), token,
                              servers)
            finally:
                tg.cancel_scope.cancel()
    finally:
        if node is not None and not broker.killed:
            with anyio.CancelScope(shield=True):
                await node.close()
        if not broker.killed:  # a killed broker leaves its files as a crash would
            broker.close()


def _own_store(data_dir: Path | None) -> Callable[[], Awaitable[Any]]:
    from kbroker.cluster.memory_store import MemoryStore

    store = MemoryStore(path=data_dir / "cluster-store.json" if data_dir is not None else None)

    async def connect() -> Any:
        return store.session()
    return connect


def _zookeeper(config: BrokerConfig) -> Callable[[], Awaitable[Any]]:
    connect_string = config.static["zookeeper.connect"]
    timeout = int(config.static.get("zookeeper.session.timeout.ms", 18000))

    async def connect() -> Any:
        try:
            from kbroker.cluster import zk_store  # the ZooKeeper backend (kazoo), imported only when asked for
        except ImportError as exc:
            raise RuntimeError(f"zookeeper.connect needs the ZooKeeper backend (kbroker.cluster.zk_store and "
                               f"kazoo): {exc}") from exc

        return await zk_store.connect(connect_string, session_timeout_ms=timeout,
                                      connection_timeout_ms=int(config.static.get(
                                          "zookeeper.connection.timeout.ms", timeout)))
    return connect


def _servers(broker: Broker, settings: Settings) -> dict[str, Server]:
    """Kafka's `listeners` when set, each a server of its own; else the one PLAINTEXT listener of --listen."""
    if "listeners" not in broker.config.static:
        return {"PLAINTEXT": Server(broker, settings.host, settings.port)}
    return {lst.name: Server(broker, lst.host or "0.0.0.0", lst.port, lst) for lst in broker.security.setup.listeners}


def _advertise(broker: Broker, settings: Settings, listener: Listener, bound: int, default: Endpoint) -> Endpoint:
    """What Metadata tells a client of this listener: advertised.listeners' entry (its port 0 or a missing one
    meaning the bound port), else the listen address (a wildcard replaced by the machine's name)."""
    if "listeners" not in broker.config.static:
        return Endpoint(default.host, settings.advertised_port or bound)
    adv = broker.security.setup.advertised_for(listener.name) or listener
    host = adv.host if adv.host not in ("", "0.0.0.0", "::") else socket.getfqdn()
    port = adv.port if adv.port and adv is not listener else bound
    return Endpoint(host, port)


async def _start_http(tg: anyio.abc.TaskGroup, broker: Broker, settings: Settings,
                      token: str | None) -> dict[str, int]:
    """Start the metrics and control HTTP listeners (one listener when both name the same address)."""
    wanted: dict[tuple[str, int], set[str]] = {}
    if settings.metrics_listen:
        wanted.setdefault(tuple(settings.metrics_listen), set()).add("metrics")  # type: ignore[arg-type]
    if settings.control_listen:
        wanted.setdefault(tuple(settings.control_listen), set()).add("control")  # type: ignore[arg-type]
    ports: dict[str, int] = {}
    if wanted:
        from kbroker.control import ControlServer
    for (host, port), roles in wanted.items():
        http = ControlServer(broker, host, port, control="control" in roles, metrics="metrics" in roles,
                             token=token if "control" in roles else None)
        bound = await tg.start(http.serve)
        for role in roles:
            ports[role] = bound
    return ports


def backend_options() -> dict:
    """anyio.run's backend options for `kbroker serve`: uvloop's event loop when it is installed (the optional
    extra `kbroker[fast]`), unless KBROKER_UVLOOP=0. anyio's API is the same on either loop."""
    import importlib.util
    import os

    if os.environ.get("KBROKER_UVLOOP", "1") == "0":
        return {}
    return {"use_uvloop": True} if importlib.util.find_spec("uvloop") is not None else {}


async def run_broker(settings: Settings, config: BrokerConfig) -> None:
    async with start_broker(settings, config) as running:
        where = "in memory" if settings.data_dir is None else f"data in {settings.data_dir}"
        if running.metrics_port is not None:
            host = settings.metrics_listen[0] if settings.metrics_listen else ""
            print(f"kbroker metrics: http://{_url_host(host)}:{running.metrics_port}/metrics", flush=True)
        if running.control_port is not None:
            host = settings.control_listen[0] if settings.control_listen else ""
            where = "token set by --control-token" if settings.control_token else f"token {running.control_token}"
            print(f"kbroker control: http://{_url_host(host)}:{running.control_port}/ ({where})", flush=True)
        others = "".join(f", {name} on {one.host}:{one.port}" for name, one in list((running.servers or {}).items())[1:])
        print(
            f"kbroker ready: listening on {running.server.host}:{running.port}{others}, advertised as {running.bootstrap}, "
            f"node {running.broker.node_id}, {where}",
            flush=True,
        )
        signum = await _first_signal()
        log.info("received %s, shutting down", signal.Signals(signum).name)
    # leaving start_broker is the clean shutdown: the guard keeps a second signal from cutting it short


async def _first_signal() -> int:
    """Wait for SIGINT/SIGTERM; return with ShutdownGuard's handlers in place. The receiver is never left:
    leaving it restores the default action (die) until the guard is installed, and a second signal in between
    killed the process. Blocking the signals around the hand-over (pthread_sigmask) would cover only this thread;
    the kernel then hands a process-directed signal to any other thread (the flusher's, anyio's workers) and the
    default action still kills. So the guard replaces the receiver's handlers while it is still open; the event
    loop drops them when it closes, after the shutdown (and the CLI uninstalls the guard)."""
    receiver = anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM)
    async for signum in receiver.__enter__():
        ShutdownGuard.install()
        return signum
    raise RuntimeError("signal receiver ended")  # pragma: no cover


class ShutdownGuard:
    """During a clean shutdown, SIGINT/SIGTERM are counted, not obeyed: `make run` forwards Ctrl-C as a second
    SIGTERM, and dying then would skip the clean-shutdown markers (the next start recovers every log).
    A third signal aborts at once, for whoever really means it."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)
    received = 0

    @classmethod
    def install(cls) -> None:
        cls.received = 1
        for sig in cls.SIGNALS:
            signal.signal(sig, cls._handle)

    @classmethod
    def uninstall(cls) -> None:
        for sig in cls.SIGNALS:
            signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)

    @classmethod
    def _handle(cls, signum: int, _frame: object) -> None:
        cls.received += 1
        name = signal.Signals(signum).name
        if cls.received >= 3:
            os.write(2, f"kbroker: {name} again, aborting the shutdown\n".encode())
            for sig in cls.SIGNALS:
                signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        os.write(2, f"kbroker: {name} during shutdown, finishing it cleanly (send it once more to abort)\n".encode())


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
