"""A minimal blocking Kafka client over a plain socket, for tests that need exact frames (bad input included):
kbroker.testing's WireClient plus the checks such tests make on the connection itself."""
from __future__ import annotations

import socket

from kbroker.testing.client import WireClient


class RawClient(WireClient):
    def __init__(self, bootstrap: str, timeout: float = 10.0) -> None:
        super().__init__(bootstrap, timeout=timeout, client_id="rawclient")

    def __enter__(self) -> "RawClient":
        return self

    def is_closed_by_peer(self, timeout: float = 5.0) -> bool:
        """True when the broker closes this connection (EOF or reset) within the timeout."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
