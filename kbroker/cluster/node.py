"""A broker's membership of a cluster: its store session, registration, metadata, controller and replicas.

`ClusterNode.open()` reads the cluster metadata and makes the broker's partitions follow it before the listener
serves anyone; `run()` registers the broker (the ephemeral /brokers/ids/<id>; a previous incarnation's znode is
waited out until its session expires, as Kafka does) and runs the metadata refresher, the controller candidate
and the replica manager. An expired session (cut off from the store for longer than its timeout) is replaced by
a new one and the broker registers again, as Kafka's broker does on ZooKeeper session expiry.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Awaitable, Callable

import anyio

from kbroker.cluster import paths
from kbroker.cluster.assignment import assign_replicas
from kbroker.cluster.controller import Controller
from kbroker.cluster.metadata import ClusterMetadata
from kbroker.cluster.network import Network
from kbroker.cluster.paths import BrokerInfo
from kbroker.cluster.replica_manager import ReplicaManager
from kbroker.cluster.store import ConnectionLoss, NodeExists, NoNode, SessionExpired, StoreSession
from wire.errors import ErrorCode, KafkaError

if TYPE_CHECKING:
    from kbroker.broker import Broker

log = logging.getLogger(__name__)

Connect = Callable[[], Awaitable[StoreSession]]
PRODUCER_ID_BLOCK = 1000


def run_now(coro):  # type: ignore[no-untyped-def]
    """Run a coroutine that never suspends (calls on the in-process store) to its end, synchronously."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("a store call suspended: not an in-process store")


class ClusterNode:
    def __init__(self, broker: "Broker", connect: Connect, network: Network | None = None, *,
                 local: bool = False) -> None:
        self.broker = broker
        self.local = local
        """A cluster of one on this process's own in-process store (`kbroker serve` alone): every write to the
        store completes at once, so topic changes are made synchronously and answered at once."""
        self.connect = connect
        self.network = network or Network()
        self.broker_id = broker.node_id
        self.md: ClusterMetadata
        self.controller: Controller
        self.replicas: ReplicaManager
        self._expired = anyio.Event()
        self._pids: tuple[int, int] = (0, 0)
        self._next_pids: tuple[int, int] | None = None
        self._refilling = False
        self._tg: anyio.abc.TaskGroup | None = None
        self.registered = False

    # -- start-up

    async def open(self) -> None:
        session = await self.connect()
        session.add_state_listener(self._on_state)
        self.md = ClusterMetadata(session, self.broker_id)
        await self.md.load()
        await self._check_cluster_id()
        if self.local and not self.md.topics and self.broker.metadata.topics:
            await self._migrate()
        if self.local:
            await self._adopt()
        self.controller = Controller(self.md, self._unclean, self._rebalance_settings)
        self.replicas = ReplicaManager(self.broker, self.md, self.network)
        self._pids = await self._take_producer_ids()
        self.broker.metadata.producer_ids = self.allocate_producer_id
        self.broker.cluster = self  # type: ignore[attr-defined]
        if not self.local:  # alone, this broker leads everything: the coordinators need no routing
            from kbroker.cluster.markers import MarkerSender
            from kbroker.coordinator import group_coordinator
            from kbroker.coordinator.transactions import transaction_coordinator

            group_coordinator(self.broker).owns = self.coordinates_group
            transaction_coordinator(self.broker).remote_markers = MarkerSender(self).submit
            transaction_coordinator(self.broker).owns = self.coordinates_transaction
            self.replicas.coordinators_follow = True
        self.replicas.sync()

    async def _migrate(self) -> None:
        """First start on a store of a data directory that has a topics.json: its topics (ids, partitions,
        configs), each partition led by this broker at its log's latest leader epoch, and the producer id blocks
        handed out, go into the store."""
        from kbroker.cluster.store import Create

        local = self.broker.metadata
        s = self.md.session
        for name, info in list(local.topics.items()):
            replicas = {p: [self.broker_id] for p in range(info.partitions)}
            await self.md.create_topic(name, replicas, dict(info.configs), topic_id=info.topic_id)
            await s.create(paths.partitions_path(name), b"")
            for index in range(info.partitions):
                part = self.broker.partition(name, index)
                latest = part.log.leader_epoch_cache.latest_epoch if part is not None else None
                state = paths.PartitionState(self.broker_id, max(latest or 0, 0), (self.broker_id,), 0)
                await s.multi([Create(paths.partition_path(name, index), b""),
                               Create(paths.state_path(name, index), state.encode())])
        if local.producer_id_block_end > 0:
            try:
                await s.create(paths.PRODUCER_ID_BLOCK, paths.encode_producer_block(
                    self.broker_id, 0, local.producer_id_block_end - 1))
            except NodeExists:
                pass
        log.info("moved %d topic(s) from topics.json into the cluster metadata", len(local.topics))
        await self.md.load()

    async def _adopt(self) -> None:
        """A cluster of one hosts every partition: one assigned to another node id (the broker was restarted
        with a new node.id) is taken over, with its data, rather than dropped."""
        for name, assignment in list(self.md.topics.items()):
            if all(r == [self.broker_id] for r in assignment.replicas.values()):
                continue
            replicas = {p: [self.broker_id] for p in assignment.replicas}
            await self.md.set_assignment(name, replicas)
            for index in replicas:
                try:
                    data, stat = await self.md.session.get(paths.state_path(name, index))
                except NoNode:
                    continue
                old = paths.PartitionState.decode(data, stat.version)
                new = paths.PartitionState(self.broker_id, old.leader_epoch + 1, (self.broker_id,),
                                           old.controller_epoch)
                await self.md.session.set(paths.state_path(name, index), new.encode(), stat.version)
            log.warning("topic %s was assigned to other node ids; node %d takes it over", name, self.broker_id)
        await self.md.load()

    def create_topic_now(self, name: str, partitions: int, replication_factor: int, configs: dict[str, str],
                         assignment: dict[int, list[int]] | None = None) -> bytes | None:
        """A cluster of one whose controller runs: create the topic, its partition states and its local
        partitions before returning (the topic id); None when that cannot be done synchronously."""
        if not (self.local and self.controller.active):
            return None
        self.check_replication_factor(replication_factor)
        replicas = assignment or assign_replicas(self.live_brokers(), partitions, replication_factor)
        created = run_now(self.md.create_topic(name, replicas, configs))
        run_now(self.md.refresh())
        run_now(self.controller.reconcile())
        run_now(self.md.refresh())
        self.replicas.sync()
        return created.topic_id

    async def _check_cluster_id(self) -> None:
        s = self.md.session
        local = self.broker.metadata.cluster_id
        try:
            await s.create(paths.CLUSTER_ID, ('{"version":"1","id":"%s"}' % local).encode(), makepath=True)
        except NodeExists:
            import json

            data, _ = await s.get(paths.CLUSTER_ID)
            self.broker.metadata.cluster_id = json.loads(data.decode()).get("id", local)

    def _on_state(self, state: str) -> None:
        if state == "expired":
            self._expired.set()

    def _unclean(self, topic: str) -> bool:
        from kbroker.topic_config import effective

        configs = self.md.topic_configs.get(topic, {})
        return str(effective("unclean.leader.election.enable", configs, self.broker.config)).lower() == "true"

    def _rebalance_settings(self) -> tuple[bool, float, int]:
        cfg = self.broker.config
        return (str(cfg["auto.leader.rebalance.enable"]).lower() == "true",
                float(cfg["leader.imbalance.check.interval.seconds"]),
                int(cfg["leader.imbalance.per.broker.percentage"]))

    async def run(self, task_status: anyio.abc.TaskStatus = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            tg.start_soon(self.md.run)
            await tg.start(self.replicas.run)
            await self._register()
            await self.md.refresh()  # serve with a view that has this broker (and, alone, its controller)
            await self.controller.step()
            await self.md.refresh()
            self.replicas.sync()
            tg.start_soon(self.controller.run)
            tg.start_soon(self._watch_session)
            task_status.started()

    async def _register(self) -> None:
        adv = self.broker.advertised
        info = BrokerInfo(self.broker_id, adv.host, adv.port, self.broker.config["broker.rack"] or None)
        while True:
            try:
                await self.md.session.create(paths.broker_path(self.broker_id), info.encode(), ephemeral=True)
                break
            except NodeExists:
                # ours if an earlier try was applied but its answer lost (Kafka's checkedEphemeralCreate compares
                # the owner session); else our previous incarnation's session has not expired yet: wait for it
                try:
                    stat = await self.md.session.exists(paths.broker_path(self.broker_id))
                except ConnectionLoss:
                    stat = None
                if stat is not None and stat.ephemeral_owner == self.md.session.session_id:
                    break
                await anyio.sleep(0.1)
            except ConnectionLoss:
                await anyio.sleep(0.1)
        self.registered = True
        self.md.invalidate_all()
        log.info("broker %d registered at %s:%d", self.broker_id, adv.host, adv.port)

    async def _watch_session(self) -> None:
        while True:
            await self._expired.wait()
            self._expired = anyio.Event()
            self.registered = False
            self.controller.active = False
            log.warning("broker %d: store session expired; opening a new one", self.broker_id)
            while True:
                try:
                    session = await self.connect()
                    break
                except (ConnectionLoss, SessionExpired, OSError):
                    await anyio.sleep(0.5)
            session.add_state_listener(self._on_state)
            self.md.session = session
            self.md.invalidate_all()
            await self._register()

    def coordinates_group(self, group_id: str) -> bool:
        """Whether this broker leads the group's __consumer_offsets partition (so it is the coordinator)."""
        from kbroker.coordinator.records import partition_for

        info = self.broker.metadata.topics.get("__consumer_offsets")
        if info is None:
            return False
        part = self.broker.partition("__consumer_offsets", partition_for(group_id, info.partitions))
        return part is not None and part.replica is not None and part.replica.is_leader

    def coordinates_transaction(self, transactional_id: str) -> bool:
        """Whether this broker leads the transactional id's __transaction_state partition."""
        from kbroker.coordinator.records import partition_for

        info = self.broker.metadata.topics.get("__transaction_state")
        if info is None:
            return False
        part = self.broker.partition("__transaction_state", partition_for(transactional_id, info.partitions))
        return part is not None and part.leading and part.replica is not None

    async def close(self) -> None:
        """A clean stop: the session ends, so the broker's znode (and /controller) go at once."""
        try:
            await self.md.session.close()
        except Exception:
            pass

    # -- producer ids, a block at a time from /latest_producer_id_block

    def allocate_producer_id(self) -> int:
        start, end = self._pids
        if start >= end and self._next_pids is not None:
            (start, end), self._next_pids = self._next_pids, None
        if end - start < PRODUCER_ID_BLOCK // 5 and self._next_pids is None and not self._refilling \
                and self._tg is not None:
            self._refilling = True
            self._tg.start_soon(self._refill_pids)
        if start >= end:
            raise KafkaError(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, "Waiting for a new block of producer ids")
        self._pids = (start + 1, end)
        return start

    async def _take_producer_ids(self) -> tuple[int, int]:
        block = await self.md.allocate_producer_ids(PRODUCER_ID_BLOCK)
        local = self.broker.metadata  # its topics.json keeps the end too, as before the store existed
        if block[1] > local.producer_id_block_end:
            local.producer_id_block_end = block[1]
            local.save()
        return block

    async def _refill_pids(self) -> None:
        try:
            self._next_pids = await self._take_producer_ids()
        finally:
            self._refilling = False

    # -- topic changes (Kafka's AdminZkClient writes, then waits for the controller's states)

    def live_brokers(self) -> dict[int, str | None]:
        return {b: info.rack for b, info in self.md.brokers.items()}

    def check_replication_factor(self, replication_factor: int) -> None:
        live = len(self.md.brokers) or 1
        if replication_factor > live:
            raise KafkaError(ErrorCode.INVALID_REPLICATION_FACTOR,
                             f"Unable to replicate the partition {replication_factor} time(s): The target "
                             f"replication factor of {replication_factor} cannot be reached because only {live} "
                             "broker(s) are registered.")

    async def create_topic(self, name: str, partitions: int, replication_factor: int, configs: dict[str, str],
                           *, assignment: dict[int, list[int]] | None = None, timeout: float = 10.0) -> bytes:
        now = self.create_topic_now(name, partitions, replication_factor, configs, assignment)
        if now is not None:
            return now
        self.check_replication_factor(replication_factor)
        replicas = assignment or assign_replicas(self.live_brokers(), partitions, replication_factor)
        created = await self.md.create_topic(name, replicas, configs)
        await self.wait_for(lambda: self._has_leaders(name, partitions), timeout)
        return created.topic_id

    def _has_leaders(self, name: str, partitions: int) -> bool:
        info = self.broker.metadata.topics.get(name)
        if info is None or info.partitions < partitions:
            return False
        return all(self.md.leader_of(name, p) >= 0 for p in range(partitions))

    async def wait_for(self, condition: Callable[[], bool], timeout: float) -> bool:
        generation = self.md.generation
        with anyio.move_on_after(timeout):
            while not condition():
                generation = await self.md.wait_changed(generation, 0.1)
            return True
        return False

    async def delete_topic(self, name: str, *, timeout: float = 10.0) -> None:
        await self.md.delete_topic(name)
        await self.wait_for(lambda: name not in self.broker.metadata.topics, timeout)

    async def add_partitions(self, name: str, count: int, explicit: list[list[int]] | None = None, *,
                             timeout: float = 10.0) -> None:
        current = self.md.topics.get(name)
        if current is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"The topic '{name}' does not exist.")
        if any(current.reassigning(p) for p in current.replicas):
            raise KafkaError(ErrorCode.REASSIGNMENT_IN_PROGRESS, f"A partition reassignment is in progress for "
                             f"the topic '{name}'.")
        first = len(current.replicas)
        if explicit is not None:
            added = {first + i: replicas for i, replicas in enumerate(explicit)}
        else:
            rf = len(next(iter(current.replicas.values()), [self.broker_id]))
            self.check_replication_factor(rf)
            added = assign_replicas(self.live_brokers(), count - first, rf, first_partition=first)
        await self.md.set_assignment(name, {**current.replicas, **added})
        await self.wait_for(lambda: self._has_leaders(name, count), timeout)

    def store_topic_configs(self, name: str, configs: dict[str, str]) -> None:
        """Write a topic's configs to the store: at once alone, in the background otherwise."""
        if self.local:
            run_now(self.md.set_topic_configs(name, configs))
        else:
            self.spawn(self.md.set_topic_configs, name, configs)

    def spawn(self, fn, *args) -> None:  # type: ignore[no-untyped-def]
        """Run a store write in the background (from synchronous broker code)."""
        if self._tg is not None:
            self._tg.start_soon(fn, *args)

    async def ensure_internal_topic(self, name: str, partitions: int, configs: dict[str, str], rf_key: str) -> None:
        """Create an internal topic with its replication factor capped by the live brokers (see known
        differences: Kafka refuses until enough brokers are up)."""
        if name in self.md.topics:
            return
        rf = max(1, min(int(self.broker.config[rf_key]), len(self.md.brokers)))
        try:
            await self.create_topic(name, partitions, rf, configs)
        except KafkaError as exc:
            if exc.code != ErrorCode.TOPIC_ALREADY_EXISTS:
                log.warning("cannot create %s: %s", name, exc)
