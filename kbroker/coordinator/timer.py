"""Keyed deadlines for the group coordinator: session expiry, join and sync phases, rebalance timeouts.

Like Kafka's coordinator timer, scheduling a key replaces what was scheduled under it, so a heartbeat only has to
reschedule its member's key. Callbacks are plain (synchronous) coordinator methods: they run on the event loop
between awaits, so group state has one owner and never changes half-way through an operation.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import time
from typing import Callable, Hashable

Callback = Callable[[], None]
log = logging.getLogger(__name__)


def monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class Timer:
    def __init__(self, clock: Callable[[], int] = monotonic_ms) -> None:
        self.clock = clock
        self._entries: dict[Hashable, tuple[int, int, Callback]] = {}
        self._heap: list[tuple[int, int, Hashable]] = []
        self._seq = itertools.count()
        self.on_earlier: Callable[[], None] | None = None  # told when a new deadline comes before all others

    def schedule(self, key: Hashable, delay_ms: int, callback: Callback) -> None:
        deadline = self.clock() + max(0, int(delay_ms))
        seq = next(self._seq)
        earliest = self.next_deadline()
        self._entries[key] = (deadline, seq, callback)
        heapq.heappush(self._heap, (deadline, seq, key))
        if self.on_earlier is not None and (earliest is None or deadline < earliest):
            self.on_earlier()

    def cancel(self, key: Hashable) -> None:
        self._entries.pop(key, None)

    def cancel_matching(self, predicate: Callable[[Hashable], bool]) -> None:
        for key in [k for k in self._entries if predicate(k)]:
            del self._entries[key]

    def is_scheduled(self, key: Hashable) -> bool:
        return key in self._entries

    def deadline(self, key: Hashable) -> int | None:
        entry = self._entries.get(key)
        return entry[0] if entry else None

    def next_deadline(self) -> int | None:
        heap = self._heap
        while heap:
            deadline, seq, key = heap[0]
            entry = self._entries.get(key)
            if entry is not None and entry[1] == seq:
                return deadline
            heapq.heappop(heap)  # replaced or cancelled
        return None

    def poll(self) -> int:
        """Run every callback that is due; how many ran."""
        ran = 0
        while True:
            now = self.clock()
            deadline = self.next_deadline()
            if deadline is None or deadline > now:
                return ran
            _, seq, key = heapq.heappop(self._heap)
            _, _, callback = self._entries.pop(key)
            try:
                callback()
            except Exception:  # one failing expiry must not stop the others
                log.exception("coordinator timer %r failed", key)
            ran += 1

    def __len__(self) -> int:
        return len(self._entries)
