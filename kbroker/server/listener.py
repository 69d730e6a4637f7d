"""The TCP listener and the per-connection loop.

Like Kafka, a connection is served one request at a time: the next frame is read only once the previous one is
answered, so responses leave in request order and a client's pipelined requests wait in the socket buffer.
A waiting request (Fetch long poll, later acks=all) holds only its own connection. A throttled response (a
quota, or an injected fault) mutes its connection for the throttle time after it is sent, as Kafka does (KIP-219).
"""
from __future__ import annotations

import itertools
import logging
import socket
import struct
from typing import TYPE_CHECKING

import anyio
from anyio.abc import SocketAttribute, SocketStream, TaskStatus
from anyio.streams.buffered import BufferedByteReceiveStream

from kbroker.server.dispatch import CloseConnection, serve_frame

if TYPE_CHECKING:
    from kbroker.broker import Broker

log = logging.getLogger(__name__)

_SIZE = struct.Struct(">i")
MIN_FRAME = 8  # api key, version, correlation id and an empty client id: anything shorter is not a request
_ids = itertools.count(1)


class Server:
    def __init__(self, broker: "Broker", host: str, port: int) -> None:
        self.broker = broker
        self.host = host
        self.port = port
        self.max_request = broker.config["socket.request.max.bytes"]
        self.connections = 0
        """Connections open now."""
        self.accepted = 0
        """Connections accepted since start."""

    async def serve(self, *, task_status: TaskStatus = anyio.TASK_STATUS_IGNORED) -> None:
        listener = await anyio.create_tcp_listener(local_host=self.host, local_port=self.port, reuse_port=False)
        async with listener:
            sockname = listener.extra(SocketAttribute.local_address)
            self.port = sockname[1]
            task_status.started(self.port)
            await listener.serve(self._connection)

    async def _connection(self, stream: SocketStream) -> None:
        conn_id = next(_ids)
        try:
            peer = stream.extra(SocketAttribute.remote_address)
            host = peer[0] if isinstance(peer, tuple) else str(peer)
        except Exception:
            host = "unknown"
        try:
            stream.extra(SocketAttribute.raw_socket).setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except Exception:
            pass
        self.connections += 1
        self.accepted += 1
        reader = BufferedByteReceiveStream(stream)
        try:
            async with stream:
                while True:
                    try:
                        size = _SIZE.unpack(await reader.receive_exactly(4))[0]
                    except (anyio.EndOfStream, anyio.IncompleteRead):
                        return
                    if size < MIN_FRAME or size > self.max_request:
                        log.info("closing connection %d from %s: frame size %d out of bounds", conn_id, host, size)
                        return
                    frame = await reader.receive_exactly(size)
                    try:
                        response, mute = await serve_frame(frame, self.broker, host, conn_id)
                    except CloseConnection as exc:
                        log.info("closing connection %d from %s: %s", conn_id, host, exc)
                        return
                    if response is not None:
                        await stream.send(response)
                    if mute > 0:
                        await anyio.sleep(mute)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.IncompleteRead, ConnectionError, OSError):
            return
        finally:
            self.connections -= 1
