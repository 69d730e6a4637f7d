"""Running a broker: the Broker, its listener and background tasks under one task group.

`run_broker` is what `kbroker serve` calls; `start_broker` lets tests and the pytest plugin run one in-process.
"""
from __future__ import annotations

import logging
import signal
import socket
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator

import anyio

from kbroker.broker import Broker, Endpoint
from kbroker.config import BrokerConfig
from kbroker.server.listener import Server

log = logging.getLogger("kbroker")


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 9092
    advertised_host: str | None = None
    advertised_port: int | None = None
    data_dir: Path | None = Path("./kbroker-data")  # None: in memory


@dataclass
class Running:
    broker: Broker
    server: Server
    port: int

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
    try:
        async with anyio.create_task_group() as tg:
            server = Server(broker, settings.host, settings.port)
            port = await tg.start(server.serve)
            if settings.advertised_port is None:
                broker.advertised = Endpoint(advertised.host, port)
            await tg.start(broker.run_background)
            try:
                yield Running(broker, server, port)
            finally:
                tg.cancel_scope.cancel()
    finally:
        broker.close()


async def run_broker(settings: Settings, config: BrokerConfig) -> None:
    async with start_broker(settings, config) as running:
        where = "in memory" if settings.data_dir is None else f"data in {settings.data_dir}"
        print(
            f"kbroker ready: listening on {settings.host}:{running.port}, advertised as {running.bootstrap}, "
            f"node {running.broker.node_id}, {where}",
            flush=True,
        )
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                log.info("received %s, shutting down", signal.Signals(signum).name)
                return
