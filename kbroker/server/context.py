"""What a handler knows about the request it serves."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from wire.codec import RequestHeader

if TYPE_CHECKING:
    from kbroker.broker import Broker
    from kbroker.security.session import ConnectionAuth

log = logging.getLogger(__name__)
_CLOSE_HOOKS = "_connection_closed_hooks"


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

    unanswered_throttle_ms: int = 0
    """Set by a handler that sends no answer (Produce acks=0) yet was throttled: the connection is muted for
    this long all the same (KIP-219), as after a throttled answer."""

    @property
    def principal(self) -> str:
        return self.auth.principal if self.auth is not None else "User:ANONYMOUS"

    @property
    def version(self) -> int:
        return self.header.api_version


def on_connection_closed(broker: Any, name: str, callback: Callable[[int], None]) -> None:
    """Have callback(connection id) called whenever a connection of this broker closes; one callback per name
    (registering the same name again is a no-op), so a handler may register on every request."""
    hooks = getattr(broker, _CLOSE_HOOKS, None)
    if hooks is None:
        hooks = {}
        setattr(broker, _CLOSE_HOOKS, hooks)
    hooks.setdefault(name, callback)


def connection_closed(broker: Any, connection_id: int) -> None:
    """Run the close hooks (the listener calls this as a connection ends); a failing hook is logged, never raised."""
    for name, callback in list((getattr(broker, _CLOSE_HOOKS, None) or {}).items()):
        try:
            callback(connection_id)
        except Exception:
            log.exception("connection-closed hook %s failed", name)
