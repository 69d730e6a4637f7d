"""A broker's lazily built components (the coordinators, client telemetry), one instance per broker.

Handlers reach a component through the broker without the broker importing it, so imports keep pointing
downward and a broker that never serves share groups or telemetry never builds them.
"""
from __future__ import annotations

from typing import Any, Callable, TypeVar

T = TypeVar("T")


def per_broker(broker: Any, attr: str, make: Callable[[Any], T]) -> T:
    """The broker's instance of a component kept in attribute `attr`, built by make(broker) on first use."""
    found = getattr(broker, attr, None)
    if found is None:
        found = make(broker)
        setattr(broker, attr, found)
    return found
