"""The replica manager: makes this broker's partitions follow the cluster metadata.

On every metadata change it reconciles: topics appear in (or leave) the broker's local view and logs, each
partition this broker hosts becomes leader or follower when its state znode names a new leader epoch (a follower
joins the fetcher of its leader's broker, truncating first), partitions moved away are deleted. As leader it runs
the ISR: followers that have not caught up within replica.lag.time.max.ms are dropped, a follower whose fetch
reached the log end is added back (only a fetch does that: what a broker fetched before it died never brings it
back once the controller dropped it) — each change a conditional write of the state znode on the version the
leader last read, so a proposal made on stale knowledge (the controller moved leadership meanwhile) loses.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio

from kbroker.cluster import paths
from kbroker.cluster.fetcher import Fetcher
from kbroker.cluster.metadata import ClusterMetadata
from kbroker.cluster.network import Network
from kbroker.cluster.partition_state import FOLLOWER, LEADER, ReplicaState
from kbroker.cluster.paths import PartitionState
from kbroker.cluster.store import BadVersion, ConnectionLoss, NoNode, SessionExpired
from kbroker.metadata import TopicInfo
from kbroker.partition import Partition

if TYPE_CHECKING:
    from kbroker.broker import Broker

log = logging.getLogger(__name__)

OFFSETS_TOPIC = "__consumer_offsets"
TXN_TOPIC = "__transaction_state"


class ReplicaManager:
    def __init__(self, broker: "Broker", md: ClusterMetadata, network: Network) -> None:
        self.broker = broker
        self.md = md
        self.network = network
        self.broker_id = broker.node_id
        cfg = broker.config
        self.lag_ms = int(cfg["replica.lag.time.max.ms"])
        self.fetch_wait_ms = int(cfg["replica.fetch.wait.max.ms"])
        self.fetch_max_bytes = int(cfg["replica.fetch.max.bytes"])
        self.fetch_response_max_bytes = int(cfg["replica.fetch.response.max.bytes"])
        self.backoff_s = min(int(cfg["replica.fetch.backoff.ms"]), 1000) / 1000
        self.fetchers: dict[int, Fetcher] = {}
        self._tg: anyio.abc.TaskGroup | None = None
        self.isr_wanted = anyio.Event()
        self.isr_shrinks = 0
        self._coordinators_moved = False
        self._txn_coordinator_moved = False
        self.coordinators_follow = False
        """Reload the group and transaction coordinators when their partitions' leadership moves (several
        brokers; a cluster of one leads everything from the start)."""
        self._seen_configs: dict[str, dict[str, str]] = {}
        self.isr_expands = 0

    # -- running

    async def run(self, task_status: anyio.abc.TaskStatus = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            for fetcher in self.fetchers.values():  # made by a sync before the broker ran
                tg.start_soon(fetcher.run)
            self.sync()
            tg.start_soon(self._isr_loop)
            task_status.started()
            generation = self.md.generation
            while True:
                generation = await self.md.wait_changed(generation, 1.0)
                try:
                    self.sync()
                except Exception:
                    log.exception("replica sync failed")

    def _fetcher(self, leader: int) -> Fetcher:
        fetcher = self.fetchers.get(leader)
        if fetcher is None:
            fetcher = self.fetchers[leader] = Fetcher(self, leader)
            if self._tg is not None:
                self._tg.start_soon(fetcher.run)
        return fetcher

    def _stop_fetching(self, tp: tuple[str, int]) -> None:
        for fetcher in self.fetchers.values():
            fetcher.remove(tp)

    # -- following the metadata

    def sync(self) -> None:
        broker, md = self.broker, self.md
        local = broker.metadata
        changed = False
        for name, assignment in list(md.topics.items()):
            if not assignment.replicas:
                continue
            configs = md.topic_configs.get(name, {})
            info = local.topics.get(name)
            if info is not None and info.topic_id != assignment.topic_id:
                self._drop_topic(name)  # an older topic of the same name
                info = None
            if info is None:
                info = TopicInfo(name, assignment.topic_id, len(assignment.replicas), dict(configs))
                local.topics[name] = info
                local.by_id[info.topic_id] = info
                changed = True
            elif info.partitions != len(assignment.replicas) or self._seen_configs.get(name) != configs:
                # configs: only a change in the store is applied (a local AlterConfigs is on its way there)
                info.partitions = len(assignment.replicas)
                if self._seen_configs.get(name) != configs:
                    info.configs = dict(configs)
                broker.apply_log_config(info)
                changed = True
            self._seen_configs[name] = dict(configs)
            for index, replicas in assignment.replicas.items():
                tp = (name, index)
                part = broker.partitions.get(tp)
                if self.broker_id not in replicas:
                    if part is not None:
                        self._stop_fetching(tp)
                        broker.partitions.pop(tp, None)
                        broker.logs.delete(name, index)
                    continue
                if part is None:
                    part = Partition(name, index, broker.logs.create(name, index, broker.log_config_for(info)))
                    broker.partitions[tp] = part
                if part.replica is None:
                    part.replica = ReplicaState(part, self.broker_id)
                self._apply(part, md.states.get(tp), replicas)
        for name in [n for n in local.topics if n not in md.topics]:
            self._drop_topic(name)
            changed = True
        if changed:
            local.save()
        if self._coordinators_moved:
            self._coordinators_moved = False
            from kbroker.coordinator import group_coordinator

            group_coordinator(broker).reload()  # it loads the partitions it now leads on its next operation
        if self._txn_coordinator_moved:
            self._txn_coordinator_moved = False
            from kbroker.coordinator.transactions import transaction_coordinator

            transaction_coordinator(broker).reload()

    def _drop_topic(self, name: str) -> None:
        broker = self.broker
        self._seen_configs.pop(name, None)
        info = broker.metadata.topics.pop(name, None)
        if info is None:
            return
        broker.metadata.by_id.pop(info.topic_id, None)
        for tp in [tp for tp in broker.partitions if tp[0] == name]:
            self._stop_fetching(tp)
            part = broker.partitions[tp]
            if part.replica is not None:
                part.replica.go_offline(part.leader_epoch)
        broker.forget_topic(info)
        log.info("broker %d dropped topic %s", self.broker_id, name)

    def _apply(self, part: Partition, state: PartitionState | None, replicas: list[int]) -> None:
        rs = part.replica
        assert rs is not None
        rs.replicas = list(replicas)
        if state is None:
            return
        was_leader = rs.is_leader
        try:
            self._apply_state(part, rs, state, replicas)
        finally:
            if self.coordinators_follow and rs.is_leader != was_leader:
                if part.topic == OFFSETS_TOPIC:
                    self._coordinators_moved = True
                elif part.topic == TXN_TOPIC:
                    self._txn_coordinator_moved = True

    def _apply_state(self, part: Partition, rs: ReplicaState, state: PartitionState, replicas: list[int]) -> None:
        tp = (part.topic, part.index)
        if state.leader_epoch < part.leader_epoch and rs.role != "offline":
            return  # stale
        if state.leader == self.broker_id:
            if rs.role != LEADER or part.leader_epoch != state.leader_epoch:
                self._stop_fetching(tp)
                plog = part.log
                latest = plog.leader_epoch_cache.latest_epoch
                if latest is None or state.leader_epoch > latest:
                    plog.leader_epoch_cache.assign(state.leader_epoch, plog.log_end_offset)
                rs.become_leader(state.leader_epoch, replicas, state.isr, state.version)
                log.info("broker %d leads %s-%d (epoch %d, isr %s)", self.broker_id, *tp, state.leader_epoch,
                         list(state.isr))
            elif rs.partition_version != state.version:  # the ISR changed (or was rewritten)
                rs.forget_dropped(tuple(state.isr))
                rs.isr, rs.partition_version = tuple(state.isr), state.version
                rs.maybe_increment_hw()
                rs.wake()
        elif state.leader < 0:
            self._stop_fetching(tp)
            rs.go_offline(state.leader_epoch)
        elif rs.role != FOLLOWER or rs.leader_id != state.leader or part.leader_epoch != state.leader_epoch:
            self._stop_fetching(tp)
            rs.become_follower(state.leader, state.leader_epoch, replicas)
            self._fetcher(state.leader).add(tp, state.leader_epoch)
            log.info("broker %d follows broker %d for %s-%d (epoch %d)", self.broker_id, state.leader, *tp,
                     state.leader_epoch)

    # -- the ISR, as leader

    def follower_fetched(self, replica_id: int, topic: str, index: int, fetch_offset: int, epoch: int,
                         broker_epoch: int = -1) -> None:
        """A follower's fetch: its log end, for the HW and the ISR. A fetch from a previous incarnation of the
        broker (a stale broker epoch, KIP-903) teaches nothing."""
        part = self.broker.partition(topic, index)
        rs = part.replica if part is not None else None
        if rs is None or not rs.is_leader or (epoch >= 0 and epoch != part.leader_epoch):
            return
        registered = self.md.brokers.get(replica_id)
        if broker_epoch >= 0 and (registered is None or registered.epoch != broker_epoch):
            return
        rs.update_follower(replica_id, fetch_offset, may_join=registered is not None)
        if rs.joins_wanted:
            self.isr_wanted.set()

    async def _isr_loop(self) -> None:
        """Every interval: drop the followers that fell behind (Kafka's maybeShrinkIsr). On a fetch's request
        (isr_wanted): add the followers whose fetch reached the log end — only a fetch expands the ISR, as in
        Kafka's updateFollowerFetchState -> maybeExpandIsr. One task, so the conditional writes of a partition's
        state do not race each other."""
        interval = max(min(self.lag_ms / 2, 1000), 50) / 1000
        while True:
            with anyio.move_on_after(interval):
                await self.isr_wanted.wait()
            self.isr_wanted = anyio.Event()
            for part in list(self.broker.partitions.values()):
                rs = part.replica
                if rs is None or not rs.is_leader:
                    continue
                out = set(rs.out_of_sync(self.lag_ms))
                joining = rs.take_joiners()
                if not out and not joining:
                    continue
                new_isr = [b for b in rs.replicas if (b in rs.isr and b not in out) or b in joining]
                if self.broker_id not in new_isr:
                    new_isr.insert(0, self.broker_id)
                try:
                    await self._write_isr(part, tuple(new_isr))
                except (ConnectionLoss, SessionExpired):
                    pass  # cut off from the store: the ISR stays as it was (and acks=all cannot complete)
                except Exception:
                    log.exception("ISR update of %s-%d failed", part.topic, part.index)

    async def _write_isr(self, part: Partition, isr: tuple[int, ...]) -> None:
        rs = part.replica
        assert rs is not None
        old = rs.isr
        state = PartitionState(self.broker_id, part.leader_epoch, isr, self.md.states.get(
            (part.topic, part.index), PartitionState(0, 0, (), 0)).controller_epoch)
        try:
            stat = await self.md.session.set(paths.state_path(part.topic, part.index), state.encode(),
                                             rs.partition_version)
        except (BadVersion, NoNode):
            log.info("%s-%d: ISR change %s -> %s lost to a newer partition state", part.topic, part.index,
                     list(old), list(isr))
            self.md.invalidate_all()
            return
        if not rs.is_leader or part.leader_epoch != state.leader_epoch:
            return
        rs.isr, rs.partition_version = isr, stat.version
        if len(isr) < len(old) or set(old) - set(isr):
            self.isr_shrinks += 1
        if set(isr) - set(old):
            self.isr_expands += 1
        log.info("%s-%d: ISR %s -> %s", part.topic, part.index, list(old), list(isr))
        rs.maybe_increment_hw()
        rs.wake()
