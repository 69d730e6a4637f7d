"""A connection's security on its listener: the TLS handshake (SSL, SASL_SSL), the principal of a client
certificate, and the SASL gate in front of the dispatcher (kbroker.security.session).

Kept apart from the listener's read loop so that a plain-text connection costs one attribute check per request.
"""
from __future__ import annotations

import logging
import struct
from typing import TYPE_CHECKING

import anyio
from anyio.streams.tls import TLSStream

from kbroker.security.listeners import Listener
from kbroker.security.session import API_VERSIONS, ConnectionAuth, Disconnect

if TYPE_CHECKING:
    from anyio.abc import ByteStream

    from kbroker.broker import Broker

log = logging.getLogger(__name__)

_HEAD = struct.Struct(">hh")
TLS_HANDSHAKE_TIMEOUT = 10.0


async def secure(broker: "Broker", listener: Listener, stream: "ByteStream", host: str,
                 ) -> tuple["ByteStream", ConnectionAuth] | None:
    """The stream to serve (TLS-wrapped on SSL listeners) and the connection's authentication; None when the
    connection must be dropped (failed handshake, a plain-text client on a TLS port, an unmapped certificate)."""
    peercert = None
    if listener.tls:
        context = broker.security.tls[listener.name]
        try:
            with anyio.fail_after(TLS_HANDSHAKE_TIMEOUT):
                stream = await TLSStream.wrap(stream, server_side=True, ssl_context=context,
                                              standard_compatible=False)
        except (TimeoutError, anyio.BrokenResourceError, anyio.EndOfStream, OSError) as exc:
            log.info("closing connection from %s on listener %s: TLS handshake failed (%s)", host, listener.name,
                     exc.__cause__ or exc)
            return None
        ssl_object = stream.extra(anyio.streams.tls.TLSAttribute.ssl_object)
        peercert = ssl_object.getpeercert() or None
    try:
        return stream, broker.security.connection(listener, peercert)
    except ValueError as exc:
        log.info("closing connection from %s on listener %s: %s", host, listener.name, exc)
        return None


def gate(auth: ConnectionAuth, frame: bytes, api_versions_max: int) -> None:
    """Raise Disconnect when the request in `frame` may not be served now (see ConnectionAuth.before_request)."""
    if auth.authenticated and auth.expires_at is None:
        return
    api_key, version = _HEAD.unpack_from(frame)
    auth.before_request(api_key, api_key != API_VERSIONS or version <= api_versions_max)


__all__ = ["Disconnect", "gate", "secure"]
