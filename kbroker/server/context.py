"""What a handler knows about the request it serves."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from wire.codec import RequestHeader

if TYPE_CHECKING:
    from kbroker.broker import Broker
    from kbroker.security.session import ConnectionAuth


class CloseConnection(Exception):
    """The connection must be closed (after nothing more is sent)."""


@dataclass
class RequestContext:
    broker: "Broker"
    header: RequestHeader
    client_host: str
    connection_id: int
    auth: "ConnectionAuth | None" = None
    """The connection's authentication (principal, SASL state); None on a connection made without one."""

    @property
    def principal(self) -> str:
        return self.auth.principal if self.auth is not None else "User:ANONYMOUS"

    @property
    def version(self) -> int:
        return self.header.api_version
