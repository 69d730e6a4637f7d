"""What the listener holds back: connections (Kafka's `max.connections`, `max.connections.per.ip` and
`max.connections.per.ip.overrides`) and the bytes of requests being received (`queued.max.request.bytes`).

As in Kafka, a broker at `max.connections` stops accepting: new connections wait in the listen backlog until one
closes. A client IP at its own limit is accepted and closed at once. The byte budget is charged as request bytes
arrive (never at the size a frame announces) and given back once the request is answered; a connection that finds
the budget spent stops reading (its bytes stay in the kernel, TCP pushes back on the client) until some is given
back. All of it lives on the broker's event loop.
"""
from __future__ import annotations

import ipaddress
import logging

import anyio

log = logging.getLogger(__name__)

UNLIMITED = 2**31 - 1


def parse_overrides(text: str) -> dict[str, int]:
    """`host:count,host:count` (Kafka's max.connections.per.ip.overrides) as {normalised IP: count}; ValueError
    for a malformed entry. Hosts are matched as IP addresses; a name is kept as written (not resolved)."""
    out: dict[str, int] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        host, sep, count = item.rpartition(":")
        if not sep or not host:
            raise ValueError(f"max.connections.per.ip.overrides: expected host:count, got {item!r}")
        out[normalise_ip(host.strip("[] "))] = int(count)
    return out


def normalise_ip(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host.lower()
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


class ConnectionLimits:
    """Connection counts, total and per client IP, against the broker's current settings (read at each accept,
    so that a dynamic change applies to the next connection)."""

    def __init__(self, config) -> None:  # type: ignore[no-untyped-def]
        self.config = config
        self.total = 0
        self.per_ip: dict[str, int] = {}
        self._closed = anyio.Event()
        self._overrides_text: str | None = None
        self._overrides: dict[str, int] = {}

    def _setting(self, name: str) -> int:
        value = self.config.get(name)
        return UNLIMITED if value is None or value < 0 else int(value)

    @property
    def max_total(self) -> int:
        return self._setting("max.connections")

    def max_for(self, ip: str) -> int:
        text = self.config.get("max.connections.per.ip.overrides") or ""
        if text != self._overrides_text:
            try:
                self._overrides = parse_overrides(text)
            except ValueError as exc:
                log.warning("%s; ignoring the overrides", exc)
                self._overrides = {}
            self._overrides_text = text
        return self._overrides.get(ip, self._setting("max.connections.per.ip"))

    async def wait_for_room(self) -> None:
        """Return once the broker is below max.connections (Kafka's acceptor blocks the same way)."""
        while self.total >= self.max_total:
            closed = self._closed
            await closed.wait()

    def admit(self, ip: str) -> bool:
        """Count a new connection from ip; False (and nothing counted) when that IP is at its limit."""
        if self.per_ip.get(ip, 0) >= self.max_for(ip):
            return False
        self.total += 1
        self.per_ip[ip] = self.per_ip.get(ip, 0) + 1
        return True

    def release(self, ip: str) -> None:
        self.total -= 1
        left = self.per_ip.get(ip, 1) - 1
        if left:
            self.per_ip[ip] = left
        else:
            self.per_ip.pop(ip, None)
        self._closed.set()
        self._closed = anyio.Event()


class ByteBudget:
    """A broker-wide budget of request bytes in memory (received, not yet answered). `take` waits while the
    budget is spent; a limit <= 0 is no limit (Kafka's queued.max.request.bytes=-1). A frame's bytes are taken in
    one step once its size is known, never piecemeal: several frames each holding part of the budget while
    waiting for the rest would wait for each other forever."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._returned = anyio.Event()

    def reserve_size(self, frame_size: int) -> int:
        """What a frame of `frame_size` bytes takes from the budget: all of it, capped at the limit so that one
        frame larger than the budget can still be read once it has the budget to itself."""
        return min(frame_size, self.limit) if self.limit > 0 else frame_size

    async def take(self, nbytes: int) -> None:
        if self.limit > 0:
            while self.used + nbytes > self.limit:
                returned = self._returned
                await returned.wait()
        self.used += nbytes

    def give(self, nbytes: int) -> None:
        if nbytes <= 0:
            return
        self.used -= nbytes
        self._returned.set()
        self._returned = anyio.Event()
