"""A measurement prototype, not kbroker code: kbroker/server/listener.py's connection loop on an asyncio Protocol
(frames cut from the bytes as they arrive, responses written straight to the transport) instead of anyio's
SocketStream + BufferedByteReceiveStream, to measure what those stream layers cost per request.

`python bench/ab.py --prototype-listener` runs a copy of this checkout with this file as its listener against the
checkout itself. It lacks what the real listener must keep (connection limits, back-pressure on large responses,
anyio cancellation of the per-connection task), so it is for the lead's decision, not for merging as is.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import socket
from collections import deque

import anyio
from anyio.abc import TaskStatus

from kbroker.server.dispatch import CloseConnection, serve_frame

log = logging.getLogger(__name__)
MIN_FRAME = 8
_ids = itertools.count(1)


class _Conn(asyncio.Protocol):
    def __init__(self, server: "Server") -> None:
        self.server = server
        self.buf = bytearray()
        self.frames: deque[bytes] = deque()
        self.waiter: asyncio.Future | None = None
        self.closed = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        self.transport = transport
        try:
            transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except Exception:
            pass
        peer = transport.get_extra_info("peername")
        self.host = peer[0] if isinstance(peer, tuple) else str(peer)
        self.server.connections += 1
        self.server.accepted += 1
        self.task = asyncio.get_running_loop().create_task(self.run())

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while len(buf) >= 4:
            size = int.from_bytes(buf[:4], "big", signed=True)
            if size < MIN_FRAME or size > self.server.max_request:
                self.closed = True
                self.transport.close()
                break
            if len(buf) < 4 + size:
                break
            self.frames.append(bytes(buf[4:4 + size]))
            del buf[:4 + size]
        if len(self.frames) > 16:
            self.transport.pause_reading()
        if self.frames and self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def connection_lost(self, exc) -> None:  # type: ignore[no-untyped-def]
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def run(self) -> None:
        conn_id = next(_ids)
        loop = asyncio.get_running_loop()
        try:
            while True:
                if not self.frames:
                    if self.closed:
                        return
                    self.transport.resume_reading()
                    self.waiter = loop.create_future()
                    await self.waiter
                    self.waiter = None
                    continue
                frame = self.frames.popleft()
                try:
                    response, mute = await serve_frame(frame, self.server.broker, self.host, conn_id)
                except CloseConnection as exc:
                    log.info("closing connection %d: %s", conn_id, exc)
                    return
                if self.closed:
                    return
                if response is not None:
                    self.transport.write(response)
                if mute > 0:
                    await anyio.sleep(mute)
        finally:
            self.server.connections -= 1
            self.transport.close()


class Server:
    def __init__(self, broker, host: str, port: int) -> None:  # type: ignore[no-untyped-def]
        self.broker = broker
        self.host = host
        self.port = port
        self.max_request = broker.config["socket.request.max.bytes"]
        self.connections = 0
        self.accepted = 0

    async def serve(self, *, task_status: TaskStatus = anyio.TASK_STATUS_IGNORED) -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Conn(self), self.host, self.port)
        self.port = server.sockets[0].getsockname()[1]
        task_status.started(self.port)
        async with server:
            await server.serve_forever()
