"""The group coordinator: classic groups (JoinGroup/SyncGroup/Heartbeat/LeaveGroup), committed offsets, group
administration, and (kbroker.coordinator.consumer) KIP-848 consumer groups.

One object owns all group and offset state. Its operations are synchronous methods that run on the event loop
between awaits, so each one sees and leaves a consistent state; the only waits (a JoinGroup for the other members,
a SyncGroup for the leader's assignment) park the handler on a Waiter that a later operation or a timer completes.
Deadlines (sessions, join and sync phases, KIP-848 rebalance timeouts, offsets retention) live in one keyed Timer,
driven by `run()` when the broker starts it, and otherwise by the requests themselves (each operation first runs
what is due, and a parked request wakes at the next deadline), so the coordinator also works unattended.

The object is assembled from one module per job, all over the shared state of kbroker.coordinator.group_state:
classic_rebalance (rebalances, sessions), classic_protocol (the classic requests), group_offsets (offsets and
their retention), group_admin (list, describe, delete). This module adds the lifecycle: the background task,
parking, and reloading when leadership of the offsets partitions moves.

Behaviour follows Kafka's GroupMetadataManager and OffsetMetadataManager (facts, not code).
"""
from __future__ import annotations

import logging
import math

import anyio

from kbroker.coordinator.classic import ClassicGroup
from kbroker.coordinator.classic_protocol import ClassicProtocol
from kbroker.coordinator.group_admin import GroupAdmin
from kbroker.coordinator.group_offsets import GroupOffsets
from kbroker.coordinator.timer import monotonic_ms
from kbroker.coordinator.waiter import Waiter

log = logging.getLogger(__name__)


class GroupCoordinator(ClassicProtocol, GroupOffsets, GroupAdmin):
    """The one group coordinator of a broker (kbroker.coordinator.group_coordinator(broker))."""

    def reload(self) -> None:
        """Leadership of offsets partitions moved (kbroker.cluster): answer parked requests NOT_COORDINATOR,
        forget the state, and load it again from the partition logs before the next operation."""
        self._shutdown()
        self._forget_state()

    def _on_loaded(self) -> None:
        """Sessions and deadlines of the replayed groups start from now (the old ones ended with the process)."""
        super()._on_loaded()
        for group in self.groups.values():
            if isinstance(group, ClassicGroup):
                for member in group.members.values():
                    self._reschedule_heartbeat(group, member)
        if any(not isinstance(g, ClassicGroup) for g in self.groups.values()):
            self.consumer_groups.on_loaded()
        groups, offsets = len(self.groups), sum(len(v) for v in self.offsets.values())
        if groups or offsets:
            log.info("group coordinator loaded %d group(s) and %d committed offset(s)", groups, offsets)
        self._schedule_offsets_expiry()

    async def run(self, *, task_status: anyio.abc.TaskStatus = anyio.TASK_STATUS_IGNORED) -> None:
        """Load the stored state, then run deadlines as they fall due, for as long as the broker runs."""
        self._running = True
        self._wake = anyio.Event()
        self.timer.on_earlier = lambda: self._wake.set() if self._wake is not None else None
        task_status.started()
        try:
            await self._load_async()
            while True:
                self.timer.poll()
                deadline = self.timer.next_deadline()
                delay = math.inf if deadline is None else max(0, deadline - monotonic_ms()) / 1000
                self._wake = anyio.Event()
                if delay > 0:
                    with anyio.move_on_after(delay):
                        await self._wake.wait()
        finally:
            self._running = False
            self.timer.on_earlier = None
            self._shutdown()

    async def park(self, waiter: Waiter, bound_ms: int) -> dict | None:
        """Wait for a parked response, at most bound_ms; None if it did not come (the waiter is abandoned)."""
        deadline = monotonic_ms() + max(0, bound_ms)
        try:
            while not waiter.done:
                now = monotonic_ms()
                if now >= deadline:
                    break
                step = deadline - now
                if not self._running:
                    due = self.timer.next_deadline()
                    if due is not None:
                        step = min(step, max(0, due - now))
                with anyio.move_on_after(step / 1000):
                    await waiter.event.wait()
                if not self._running and not waiter.done:
                    self.timer.poll()
        finally:
            if not waiter.done:
                waiter.abandon()
        return waiter.response

