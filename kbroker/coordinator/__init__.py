"""Coordinators: the group coordinator (classic and KIP-848 consumer groups, committed offsets).

Handlers reach the one GroupCoordinator of a broker through `group_coordinator(broker)`: the broker's own
`group_coordinator` attribute when it creates one, else one made on first use and kept on the broker object.
"""
from __future__ import annotations

from typing import Any

from kbroker.coordinator.group_coordinator import GroupCoordinator
from kbroker.per_broker import per_broker

__all__ = ["GroupCoordinator", "group_coordinator"]

def group_coordinator(broker: Any) -> GroupCoordinator:
    return per_broker(broker, "group_coordinator", GroupCoordinator)


def client_id(ctx: Any) -> str:
    return ctx.header.client_id or ""


def client_host(ctx: Any) -> str:
    """As Kafka reports it (InetAddress.toString of the peer): "/127.0.0.1"."""
    return f"/{ctx.client_host}"
