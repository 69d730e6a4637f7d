"""The controller: one broker at a time, elected through the ephemeral /controller znode.

The winner bumps /controller_epoch and from then on makes every write a multi with a Check on that znode's
version, so a controller that lost its session (and was replaced) cannot change anything. Its job, re-run on
every metadata change: give new partitions their first state (leader = first live replica, ISR = the live
replicas), and when a broker goes away (or comes back as a new incarnation) elect new leaders from the ISR —
from outside it only when unclean.leader.election.enable is set — and drop dead brokers from the ISR. A partition
with no eligible replica stays offline (leader -1) until one returns.
"""
from __future__ import annotations

import logging
from typing import Callable

import anyio

from kbroker.cluster import paths
from kbroker.cluster.metadata import ClusterMetadata
from kbroker.cluster.paths import PartitionState
from kbroker.cluster.store import (
    BadVersion, Check, ConnectionLoss, Create, NodeExists, NoNode, SessionExpired, SetData,
)

log = logging.getLogger(__name__)

UncleanPolicy = Callable[[str], bool]
"""unclean(topic) -> whether unclean leader election is enabled for the topic."""


class Controller:
    def __init__(self, metadata: ClusterMetadata, unclean: UncleanPolicy,
                 rebalance: Callable[[], tuple[bool, float, int]] = lambda: (False, 300.0, 10)) -> None:
        self.md = metadata
        self.unclean = unclean
        self.rebalance = rebalance
        """() -> (auto.leader.rebalance.enable, leader.imbalance.check.interval seconds,
        leader.imbalance.per.broker.percentage)."""
        self._last_rebalance = 0.0
        self.epoch = -1
        self._epoch_version = -1
        self.active = False
        self._known_epochs: dict[int, int] = {}  # broker id -> broker epoch when last seen alive
        self.elections = 0

    async def run(self) -> None:
        """Stand for election whenever there is no controller; act while elected."""
        generation = -1
        while True:
            try:
                if not self.active and self.md.controller_id == -1:
                    await self._elect()
                if self.active:
                    if self.md.controller_id not in (-1, self.md.broker_id):
                        self.active = False  # someone else holds /controller: our session was lost
                        log.info("broker %d is no longer the controller", self.md.broker_id)
                    else:
                        await self.reconcile()
                        enabled, interval, _ = self.rebalance()
                        if enabled and anyio.current_time() - self._last_rebalance >= interval:
                            self._last_rebalance = anyio.current_time()
                            await self.rebalance_leaders()
            except (ConnectionLoss, SessionExpired):
                self.active = False
            except BadVersion:
                log.info("broker %d: controller write fenced (epoch %d)", self.md.broker_id, self.epoch)
                self.active = False
            except Exception:
                log.exception("controller step failed")
            generation = await self.md.wait_changed(generation, 0.5 if self.active else 1.0)

    async def step(self) -> None:
        """One election attempt and one reconcile pass now (at start-up, before the loop takes over)."""
        try:
            if not self.active and self.md.controller_id == -1:
                await self._elect()
            if self.active:
                await self.reconcile()
        except (ConnectionLoss, SessionExpired, BadVersion):
            self.active = False

    async def _elect(self) -> None:
        s = self.md.session
        try:
            await s.create(paths.CONTROLLER, paths.encode_controller(self.md.broker_id), ephemeral=True)
        except NodeExists:
            return
        while True:
            try:
                data, stat = await s.get(paths.CONTROLLER_EPOCH)
                new = int(data or b"0") + 1
                stat = await s.set(paths.CONTROLLER_EPOCH, str(new).encode(), stat.version)
            except NoNode:
                try:
                    await s.create(paths.CONTROLLER_EPOCH, b"1")
                except NodeExists:
                    continue
                new, stat = 1, (await s.get(paths.CONTROLLER_EPOCH))[1]
            except BadVersion:
                continue
            break
        self.epoch, self._epoch_version, self.active = new, stat.version, True
        self._last_rebalance = anyio.current_time()
        self.md.controller_id = self.md.broker_id
        self._known_epochs = {}
        log.info("broker %d is the controller (epoch %d)", self.md.broker_id, new)

    def _fenced(self, op) -> list:  # type: ignore[no-untyped-def]
        return [Check(paths.CONTROLLER_EPOCH, self._epoch_version), op]

    async def reconcile(self) -> None:
        md = self.md
        live = {b: info.epoch for b, info in md.brokers.items()}
        restarted = {b for b, e in live.items() if self._known_epochs.get(b, e) != e}
        gone = set(self._known_epochs) - set(live)
        self._known_epochs = dict(live)
        for topic, assignment in list(md.topics.items()):
            for index, replicas in assignment.replicas.items():
                state = md.states.get((topic, index))
                if state is None:
                    await self._create_state(topic, index, replicas, set(live))
                else:
                    await self._maybe_elect(topic, index, replicas, state, set(live), restarted | gone)
        from kbroker.cluster.reassignment import complete

        await complete(self)

    async def _create_state(self, topic: str, index: int, replicas: list[int], live: set[int]) -> None:
        alive = [b for b in replicas if b in live]
        if not alive:
            return  # stays new until a replica is online
        state = PartitionState(alive[0], 0, tuple(alive), self.epoch)
        try:
            if await self.md.session.exists(paths.partition_path(topic, index)) is None:
                await self.md.session.create(paths.partition_path(topic, index), b"", makepath=True)
            await self.md.session.multi(self._fenced(Create(paths.state_path(topic, index), state.encode())))
        except (NodeExists, NoNode):
            pass  # created meanwhile, or the topic is being deleted

    async def _maybe_elect(self, topic: str, index: int, replicas: list[int], state: PartitionState,
                           live: set[int], failed: set[int]) -> None:
        leader_ok = state.leader in live and state.leader not in failed
        isr = [b for b in state.isr if b in live and b not in failed]
        if leader_ok:
            if len(isr) == len(state.isr):
                return
            new = PartitionState(state.leader, state.leader_epoch, tuple(isr), self.epoch)
        else:
            candidates = [b for b in replicas if b in isr]
            if candidates:
                new = PartitionState(candidates[0], state.leader_epoch + 1, tuple(isr), self.epoch)
            elif self.unclean(topic) and any(b in live for b in replicas):
                chosen = next(b for b in replicas if b in live)
                log.warning("unclean leader election of broker %d for %s-%d", chosen, topic, index)
                new = PartitionState(chosen, state.leader_epoch + 1, (chosen,), self.epoch)
            elif state.leader == -1:
                return  # offline already; wait for an ISR member
            else:  # offline: keep the last ISR so that only one of them may lead again
                new = PartitionState(-1, state.leader_epoch + 1, state.isr if not isr else tuple(isr), self.epoch)
        self.elections += 1
        try:
            await self.md.session.multi(
                self._fenced(SetData(paths.state_path(topic, index), new.encode(), state.version)))
        except (BadVersion, NoNode) as exc:
            # the state moved (a leader's ISR write) or our epoch is stale: the next pass re-reads
            if isinstance(exc, BadVersion):
                stat = await self.md.session.exists(paths.CONTROLLER_EPOCH)
                if stat is None or stat.version != self._epoch_version:
                    raise
            self.md.invalidate_all()
            return
        log.info("%s-%d: leader %d epoch %d isr %s", topic, index, new.leader, new.leader_epoch, list(new.isr))

    async def rebalance_leaders(self) -> int:
        """auto.leader.rebalance.enable: give leadership back to preferred replicas on brokers whose share of
        not-preferred-led partitions is above leader.imbalance.per.broker.percentage. The elections made."""
        from kbroker.cluster.elections import preferred_choice

        _, _, pct = self.rebalance()
        md = self.md
        owned: dict[int, list[tuple[str, int]]] = {}
        for topic, assignment in md.topics.items():
            for index, replicas in assignment.replicas.items():
                if replicas:
                    owned.setdefault(replicas[0], []).append((topic, index))
        made = 0
        for broker_id, tps in owned.items():
            if broker_id not in md.brokers:
                continue
            off = [tp for tp in tps if md.leader_of(*tp) != broker_id]
            if not off or len(off) * 100 / len(tps) <= pct:
                continue
            for topic, index in off:
                state = md.states.get((topic, index))
                if state is None or preferred_choice(md, topic, index, state) is None:
                    continue
                new = PartitionState(broker_id, state.leader_epoch + 1, state.isr, self.epoch)
                try:
                    await md.session.multi(self._fenced(SetData(paths.state_path(topic, index), new.encode(),
                                                                state.version)))
                except (BadVersion, NoNode):
                    md.invalidate_all()
                    continue
                made += 1
                log.info("%s-%d: preferred leader %d restored (epoch %d)", topic, index, broker_id,
                         new.leader_epoch)
        return made
