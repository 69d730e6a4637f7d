"""What a handler knows about the request it serves."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from wire.codec import RequestHeader

if TYPE_CHECKING:
    from kbroker.broker import Broker


class CloseConnection(Exception):
    """The connection must be closed (after nothing more is sent)."""


@dataclass
class RequestContext:
    broker: "Broker"
    header: RequestHeader
    client_host: str
    connection_id: int
    unanswered_throttle_ms: int = 0
    """Set by a handler that sends no answer (Produce acks=0) yet was throttled: the connection is muted for
    this long all the same (KIP-219), as after a throttled answer."""

    @property
    def version(self) -> int:
        return self.header.api_version
