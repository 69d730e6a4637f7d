"""An async inter-broker Kafka client on wire/'s codecs: one connection to one broker, one request at a time.

Used by the follower fetchers (Fetch, OffsetForLeaderEpoch). Every request is bounded by a timeout; any failure
closes the connection (the next request reconnects). `reachable` lets the in-process fault injection cut a
broker off from the others (kbroker.cluster.network).
"""
from __future__ import annotations

import struct
from typing import Any, Callable

import anyio
from anyio.abc import SocketStream

from wire.codec import decode_response, encode_request


class BrokerClient:
    def __init__(self, host: str, port: int, *, client_id: str, reachable: Callable[[], bool] = lambda: True,
                 timeout: float = 10.0) -> None:
        self.host, self.port = host, port
        self.client_id = client_id
        self.reachable = reachable
        self.timeout = timeout
        self._stream: SocketStream | None = None
        self._correlation = 0
        self._buffer = bytearray()

    async def request(self, api_key: int, version: int, body: dict, *, timeout: float | None = None) -> Any:
        if not self.reachable():
            await self.close()
            raise ConnectionError(f"broker {self.host}:{self.port} is unreachable")
        try:
            with anyio.fail_after(timeout or self.timeout):
                if self._stream is None:
                    self._stream = await anyio.connect_tcp(self.host, self.port)
                    self._buffer = bytearray()
                self._correlation += 1
                frame = encode_request(api_key, version, self._correlation, self.client_id, body)
                await self._stream.send(struct.pack(">i", len(frame)) + frame)
                size = struct.unpack(">i", await self._read(4))[0]
                corr, response = decode_response(api_key, version, await self._read(size))
        except BaseException:
            await self.close()
            raise
        if corr != self._correlation:
            await self.close()
            raise ConnectionError(f"correlation id {corr} != {self._correlation}")
        if not self.reachable():  # cut off while waiting: the answer never arrived
            await self.close()
            raise ConnectionError(f"broker {self.host}:{self.port} is unreachable")
        return response

    async def _read(self, n: int) -> bytes:
        assert self._stream is not None
        while len(self._buffer) < n:
            chunk = await self._stream.receive(1 << 20)
            self._buffer += chunk
        out = bytes(self._buffer[:n])
        del self._buffer[:n]
        return out

    async def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            with anyio.CancelScope(shield=True):
                try:
                    await stream.aclose()
                except Exception:
                    pass
