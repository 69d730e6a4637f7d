"""`kbroker cluster --brokers N`: N brokers in one process replicating to each other over the loopback, on ports
PORT..PORT+N-1, sharing one in-process coordination store (persisted under --data-dir, so the cluster keeps its
topics across restarts) — real brokers and real replication for client tests that need leader moves, with no
ZooKeeper to run.
"""
from __future__ import annotations

import logging
import signal
from pathlib import Path

import anyio

from kbroker.app import Settings, start_broker
from kbroker.cluster.memory_store import MemoryStore
from kbroker.cluster.network import Network
from kbroker.config import BrokerConfig

log = logging.getLogger("kbroker")


async def run_cluster(brokers: int, host: str, port: int, data_dir: Path | None, config: BrokerConfig,
                      session_timeout_ms: int = 6000) -> None:
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
    store = MemoryStore(session_timeout_ms=session_timeout_ms,
                        path=data_dir / "cluster-store.json" if data_dir is not None else None)
    network = Network()
    first_id = int(config["node.id"]) if "node.id" in config.static else 1
    async with anyio.create_task_group() as tg:
        stopped = anyio.Event()
        ready: list[str] = []
        for i in range(brokers):
            broker_id = first_id + i
            broker_config = BrokerConfig(dict(config.static))
            broker_config.update([("node.id", str(broker_id))])

            async def connect():  # type: ignore[no-untyped-def]
                return store.session()
            settings = Settings(host=host, port=port + i if port else 0, data_dir=(
                data_dir / f"broker-{broker_id}" if data_dir is not None else None),
                store_connect=connect, network=network)
            started = anyio.Event()

            async def one(settings: Settings = settings, broker_config: BrokerConfig = broker_config,
                          started: anyio.Event = started) -> None:
                async with start_broker(settings, broker_config) as running:
                    ready.append(running.bootstrap)
                    print(f"kbroker ready: listening on {settings.host}:{running.port}, advertised as "
                          f"{running.bootstrap}, node {running.broker.node_id}, cluster member", flush=True)
                    started.set()
                    await stopped.wait()
            tg.start_soon(one)
            await started.wait()
        where = "in memory" if data_dir is None else f"data in {data_dir}"
        print(f"kbroker cluster ready: {brokers} brokers, bootstrap {','.join(ready)}, {where}", flush=True)
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                log.info("received %s, shutting down the cluster", signal.Signals(signum).name)
                break
        stopped.set()
