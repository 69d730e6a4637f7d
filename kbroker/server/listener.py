"""The TCP listener and the per-connection loop.

Like Kafka, a connection is served one request at a time: the next frame is read only once the previous one is
answered, so responses leave in request order and a client's pipelined requests wait in the socket buffer.
A waiting request (Fetch long poll, later acks=all) holds only its own connection. A throttled response (a
quota, or an injected fault) mutes its connection for the throttle time after it is sent, as Kafka does (KIP-219).

What no client can do (kbroker.server.limits): open more connections than `max.connections` /
`max.connections.per.ip` allow; run the process out of file descriptors (the accept loop backs off and keeps
serving the connections it has); hold a connection idle past `connections.max.idle.ms`; trickle a started
request past `kbroker.request.read.timeout.ms`; or make the broker hold more than `queued.max.request.bytes` of
requests being received (reading pauses instead). A frame is read in chunks as its bytes arrive, never allocated
at the size it announces.
"""
from __future__ import annotations

import errno
import itertools
import logging
import socket
import struct
from typing import TYPE_CHECKING

import anyio
from anyio.abc import SocketAttribute, SocketListener, SocketStream, TaskStatus

from kbroker.logsafe import Throttled
from kbroker.security.listeners import Listener
from kbroker.server.context import connection_closed
from kbroker.server.dispatch import CloseConnection, serve_frame
from kbroker.server.secure import Disconnect, gate, secure
from kbroker.server.limits import ByteBudget, ConnectionLimits, normalise_ip

if TYPE_CHECKING:
    from kbroker.broker import Broker

log = logging.getLogger(__name__)

_SIZE = struct.Struct(">i")
MIN_FRAME = 8  # api key, version, correlation id and an empty client id: anything shorter is not a request
CHUNK = 64 * 1024  # bytes of a frame read at a time
_FD_ERRORS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
ACCEPT_BACKOFF = (0.01, 1.0)  # first and longest pause of the accept loop when out of descriptors
_ids = itertools.count(1)


class Server:
    def __init__(self, broker: "Broker", host: str, port: int, listener: Listener | None = None) -> None:
        self.broker = broker
        self.host = host
        self.port = port
        self.listener = listener or Listener("PLAINTEXT", host, port, "PLAINTEXT")
        """Kafka's named listener this server is: its security protocol decides TLS and SASL."""
        config = broker.config
        self.max_request = config["socket.request.max.bytes"]
        queued = config["queued.max.request.bytes"]
        if 0 < queued < self.max_request:
            log.warning("queued.max.request.bytes=%d is below socket.request.max.bytes=%d; using %d", queued,
                        self.max_request, self.max_request)
            queued = self.max_request
        self.budget = ByteBudget(queued)
        self.limits = ConnectionLimits(config)
        self.connections = 0
        """Connections open now."""
        self.accepted = 0
        """Connections accepted since start."""
        self.refused = 0
        """Connections closed at once because their IP was at max.connections.per.ip."""
        self._noise = Throttled(log)
        self._out_of_fds = False

    async def serve(self, *, task_status: TaskStatus = anyio.TASK_STATUS_IGNORED) -> None:
        listener = await anyio.create_tcp_listener(local_host=self.host, local_port=self.port, reuse_port=False)
        async with listener, anyio.create_task_group() as tg:
            sockname = listener.extra(SocketAttribute.local_address)
            self.port = sockname[1]
            for one in listener.listeners:
                tg.start_soon(self._accept_loop, one, tg)
            task_status.started(self.port)

    async def _accept_loop(self, listener: SocketListener, tg: anyio.abc.TaskGroup) -> None:
        backoff = ACCEPT_BACKOFF[0]
        while True:
            await self.limits.wait_for_room()
            try:
                stream = await listener.accept()
            except OSError as exc:
                if exc.errno not in _FD_ERRORS:
                    self._noise.log(logging.WARNING, "accept failed: %s", exc)  # e.g. ECONNABORTED: a client gave up
                    await anyio.sleep(ACCEPT_BACKOFF[0])
                    continue
                if not self._out_of_fds:  # once per episode, not once per attempt
                    log.warning("cannot accept connections: %s (%d open); serving the open ones and retrying",
                                exc.strerror, self.connections)
                    self._out_of_fds = True
                await anyio.sleep(backoff)
                backoff = min(backoff * 2, ACCEPT_BACKOFF[1])
                continue
            if self._out_of_fds:
                log.warning("accepting connections again (%d open)", self.connections)
                self._out_of_fds = False
            backoff = ACCEPT_BACKOFF[0]
            try:
                peer = stream.extra(SocketAttribute.remote_address)
                host = normalise_ip(peer[0] if isinstance(peer, tuple) else str(peer))
            except Exception:
                host = "unknown"
            if self.limits.admit(host):  # counted here, before the next accept looks at the total
                transport = getattr(stream, "_transport", None)
                if transport is not None:  # read only when the connection asks, a chunk at a time (see _receive)
                    transport.pause_reading()
                    if hasattr(transport, "max_size"):
                        transport.max_size = CHUNK
                tg.start_soon(self._connection, stream, host)
            else:
                self.refused += 1
                self._noise.log(logging.INFO, "refusing a connection from %s: max.connections.per.ip (%d) reached",
                                host, self.limits.max_for(host))
                tg.start_soon(stream.aclose)

    async def _connection(self, stream: SocketStream, host: str) -> None:
        conn_id = next(_ids)
        try:
            stream.extra(SocketAttribute.raw_socket).setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except Exception:
            pass
        self.connections += 1
        self.accepted += 1
        try:
            async with stream:
                if self.listener.protocol == "PLAINTEXT":
                    served, auth = stream, self.broker.security.connection(self.listener)
                else:
                    secured = await secure(self.broker, self.listener, stream, host)
                    if secured is None:
                        return
                    served, auth = secured
                async with served:
                    await self._serve_connection(served, conn_id, host, auth)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, ConnectionError, OSError):
            return
        except Exception:  # a bug here must cost one connection, never the listener
            log.exception("connection %d from %s failed", conn_id, host)
        finally:
            self.connections -= 1
            self.limits.release(host)
            connection_closed(self.broker, conn_id)

    async def _serve_connection(self, stream: SocketStream, conn_id: int, host: str, auth) -> None:  # type: ignore[no-untyped-def]
        pending = bytearray()  # bytes received beyond the frame being read
        config = self.broker.config
        from kbroker.handlers import REGISTRY
        api_versions_max = REGISTRY[18].max_version
        while True:
            idle = config["connections.max.idle.ms"]
            with anyio.move_on_after(idle / 1000 if idle >= 0 else None) as idle_scope:
                head = await _receive_exactly(stream, pending, 4)
            if idle_scope.cancelled_caught:
                log.debug("closing connection %d from %s: idle for connections.max.idle.ms=%d", conn_id, host, idle)
                return
            if head is None:
                return
            size = _SIZE.unpack(head)[0]
            if auth.legacy and 0 <= size <= self.max_request:  # a bare SASL token after SaslHandshake v0
                token = await _receive_exactly(stream, pending, size) if size else b""
                if token is None:
                    return
                try:
                    challenge = auth.legacy_token(token)
                except Disconnect as exc:
                    self._noise.log(logging.INFO, "closing connection %d from %s: %s", conn_id, host, exc)
                    return
                await stream.send(_SIZE.pack(len(challenge)) + challenge)
                continue
            if size < MIN_FRAME or size > self.max_request:
                self._noise.log(logging.INFO, "closing connection %d from %s: frame size %d out of bounds", conn_id,
                                host, size)
                return
            deadline = config["kbroker.request.read.timeout.ms"]
            charged = self.budget.reserve_size(size)
            await self.budget.take(charged)  # all at once, as Kafka's MemoryPool: partial holds can deadlock
            try:
                with anyio.move_on_after(deadline / 1000 if deadline > 0 else None) as read_scope:
                    frame = await self._read_frame(stream, pending, size)
                if read_scope.cancelled_caught:
                    self._noise.log(logging.INFO, "closing connection %d from %s: a %d-byte request not received "
                                    "within kbroker.request.read.timeout.ms=%d", conn_id, host, size, deadline)
                    return
                if frame is None:
                    return
                try:
                    gate(auth, frame, api_versions_max)
                    response, mute = await serve_frame(frame, self.broker, host, conn_id, auth)
                except (CloseConnection, Disconnect) as exc:
                    self._noise.log(logging.INFO, "closing connection %d from %s: %s", conn_id, host, exc)
                    return
                del frame
            finally:
                self.budget.give(charged)
            after = auth.take_after_send()
            if after is not None and after.delay_s > 0:
                await anyio.sleep(after.delay_s)  # Kafka delays the answer to a failed authentication
            if response is not None:
                await stream.send(response)
            if after is not None and after.close_after:
                self._noise.log(logging.INFO, "closing connection %d from %s: SASL authentication ended (%s)",
                                conn_id, host, auth.state)
                return
            if mute > 0:
                await anyio.sleep(mute)

    async def _read_frame(self, stream: SocketStream, pending: bytearray, size: int) -> bytes | None:
        """The frame's `size` bytes, read chunk by chunk as they arrive (its budget is already reserved); None at
        end of stream."""
        chunks: list[bytes] = []
        have = 0
        if pending:
            first = bytes(pending[:size])
            del pending[:size]
            chunks.append(first)
            have = len(first)
        try:
            while have < size:
                chunk = await _receive(stream, min(CHUNK, size - have))
                chunks.append(chunk)
                have += len(chunk)
        except anyio.EndOfStream:
            return None
        return b"".join(chunks)


async def _receive(stream: SocketStream, max_bytes: int) -> bytes:
    """stream.receive, leaving the socket unread afterwards. anyio's asyncio stream pauses its transport only
    after it had to wait for data: a client that keeps sending would have the transport read on and queue
    everything in memory, whatever the budget says. Pausing after every receive keeps what the transport holds
    to one read (CHUNK, set at accept) per connection; the rest waits in the kernel and TCP slows the sender."""
    chunk = await stream.receive(max_bytes)
    transport = getattr(stream, "_transport", None)  # asyncio only; trio's receive is a plain recv
    if transport is not None and transport.is_reading():
        queue = getattr(getattr(stream, "_protocol", None), "read_queue", None)
        if queue is None or sum(map(len, queue)) >= CHUNK:  # a chunk ahead is enough; the rest waits in the kernel
            transport.pause_reading()
    return chunk


async def _receive_exactly(stream: SocketStream, pending: bytearray, n: int) -> bytes | None:
    """n bytes (taking what `pending` holds first, leaving any surplus there); None at a clean end of stream."""
    while len(pending) < n:
        try:
            pending += await _receive(stream, n - len(pending))
        except anyio.EndOfStream:
            return None
    out = bytes(pending[:n])
    del pending[:n]
    return out
