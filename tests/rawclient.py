"""A minimal blocking Kafka client over a plain socket, for tests that need exact frames (bad input included)."""
from __future__ import annotations

import socket
import struct
from typing import Any

from wire.codec import decode_response, encode_request


class RawClient:
    def __init__(self, bootstrap: str, timeout: float = 10.0) -> None:
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.correlation = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "RawClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def send_frame(self, payload: bytes) -> None:
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)

    def recv_frame(self) -> bytes:
        size = struct.unpack(">i", self._recv_exactly(4))[0]
        return self._recv_exactly(size)

    def _recv_exactly(self, n: int) -> bytes:
        chunks = []
        while n:
            chunk = self.sock.recv(n)
            if not chunk:
                raise ConnectionError("connection closed by the broker")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def send(self, api_key: int, version: int, body: dict, client_id: str | None = "rawclient") -> int:
        self.correlation += 1
        self.send_frame(encode_request(api_key, version, self.correlation, client_id, body))
        return self.correlation

    def request(self, api_key: int, version: int, body: dict) -> Any:
        corr = self.send(api_key, version, body)
        got, response = decode_response(api_key, version, self.recv_frame())
        assert got == corr, f"correlation id {got} != {corr}"
        return response

    def is_closed_by_peer(self, timeout: float = 5.0) -> bool:
        """True when the broker closes this connection (EOF or reset) within the timeout."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
