"""A parked response: what JoinGroup and SyncGroup wait on while the group gathers its members.

The coordinator completes a Waiter (once; later completions are ignored) and the handler awaits it, bounded by a
timeout. A Waiter given up by its handler calls `on_abandon` so the coordinator stops counting on it.
"""
from __future__ import annotations

from typing import Any, Callable

import anyio


class Waiter:
    __slots__ = ("event", "response", "on_abandon")

    def __init__(self, response: dict | None = None) -> None:
        self.event = anyio.Event()
        self.response: dict | None = None
        self.on_abandon: Callable[[], Any] | None = None
        if response is not None:
            self.complete(response)

    @property
    def done(self) -> bool:
        return self.response is not None

    def complete(self, response: dict) -> bool:
        if self.response is not None:
            return False
        self.response = response
        self.event.set()
        return True

    def abandon(self) -> None:
        if self.response is None and self.on_abandon is not None:
            callback, self.on_abandon = self.on_abandon, None
            callback()


def completed(response: dict) -> Waiter:
    return Waiter(response)
