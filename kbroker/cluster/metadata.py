"""ClusterMetadata: one broker's typed, cached view of the cluster's znodes, kept fresh by watches.

Reads are synchronous on the cache (handlers call them on every request); the cache is refreshed by a task that
re-reads what the one-shot watches reported changed, then bumps `generation` and wakes whoever waits for a
change (the controller, the replica manager, CreateTopics waiting for its leaders). Writes that any broker may
make (Kafka's AdminZkClient: topic assignments and configs) are here too; the controller's fenced writes live in
controller.py and the leader's ISR writes in replica_manager.py.
"""
from __future__ import annotations

import logging
import uuid

import anyio

from kbroker.cluster import paths
from kbroker.cluster.paths import BrokerInfo, PartitionState, TopicAssignment
from kbroker.cluster.store import (
    ConnectionLoss, Create, NodeExists, NoNode, SessionExpired, Stat, StoreSession, WatchedEvent, ensure_path,
)
from wire.errors import ErrorCode, KafkaError

log = logging.getLogger(__name__)


class ClusterMetadata:
    def __init__(self, session: StoreSession, broker_id: int) -> None:
        self.session = session
        self.broker_id = broker_id
        self.brokers: dict[int, BrokerInfo] = {}
        self.controller_id = -1
        self.topics: dict[str, TopicAssignment] = {}
        self.topic_configs: dict[str, dict[str, str]] = {}
        self.states: dict[tuple[str, int], PartitionState] = {}
        self.generation = 0
        self._changed = anyio.Event()
        self._dirty: set[tuple] = set()
        self._wake = anyio.Event()

    # -- reading

    def live(self, broker_id: int) -> bool:
        return broker_id in self.brokers

    def leader_of(self, topic: str, index: int) -> int:
        state = self.states.get((topic, index))
        return state.leader if state is not None else -1

    def replicas_of(self, topic: str, index: int) -> list[int]:
        assignment = self.topics.get(topic)
        return list(assignment.replicas.get(index, [])) if assignment else []

    async def wait_changed(self, generation: int, timeout: float) -> int:
        """Until the cache moves past `generation` (or timeout); the generation now."""
        with anyio.move_on_after(timeout):
            while self.generation == generation:
                await self._changed.wait()
        return self.generation

    # -- refreshing

    def _watch(self, key: tuple):
        def fire(event: WatchedEvent) -> None:
            self._dirty.add(key)
            self._wake.set()
        return fire

    async def load(self) -> None:
        """Read everything once (at start or after a new session)."""
        for path in paths.PERSISTENT_ROOTS:
            await ensure_path(self.session, path)
        await self.refresh()

    async def run(self) -> None:
        """Refresh on watch events for as long as the broker runs."""
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            try:
                await self._refresh()
            except (ConnectionLoss, SessionExpired):
                await anyio.sleep(0.1)  # re-read once the session is back (node.py replaces an expired one)

    async def refresh(self) -> None:
        """Re-read everything now (rather than when the refresher next runs)."""
        self._dirty |= {("brokers",), ("controller",), ("topics",)}
        self._dirty |= {("topic", t) for t in self.topics}
        await self._refresh()

    def invalidate_all(self) -> None:
        self._dirty |= {("brokers",), ("controller",), ("topics",)}
        self._dirty |= {("topic", t) for t in self.topics}
        self._wake.set()

    async def _refresh(self) -> None:
        s = self.session
        while self._dirty:
            dirty, self._dirty = self._dirty, set()
            try:
                for key in sorted(dirty, key=lambda k: (len(k), k)):
                    kind = key[0]
                    if kind == "brokers":
                        ids = await s.children(paths.BROKER_IDS, self._watch(key))
                        brokers = {}
                        for name in ids:
                            try:
                                data, stat = await s.get(paths.broker_path(int(name)))
                            except NoNode:
                                continue
                            brokers[int(name)] = BrokerInfo.decode(int(name), data, stat.czxid)
                        self.brokers = brokers
                    elif kind == "controller":
                        found = await self._get_or_watch(paths.CONTROLLER, key)
                        self.controller_id = -1 if found is None else paths.decode_controller(found[0])
                    elif kind == "topics":
                        names = set(await s.children(paths.BROKER_TOPICS, self._watch(key)))
                        for gone in set(self.topics) - names:
                            self._forget_topic(gone)
                        for name in names - set(self.topics):
                            await self._read_topic(name)
                    elif kind == "topic":
                        await self._read_topic(key[1])
                    elif kind == "state":
                        await self._read_state(key[1], key[2])
            except Exception:
                self._dirty |= dirty
                raise
        self.generation += 1
        self._changed.set()
        self._changed = anyio.Event()

    def _forget_topic(self, name: str) -> None:
        self.topics.pop(name, None)
        self.topic_configs.pop(name, None)
        for tp in [tp for tp in self.states if tp[0] == name]:
            del self.states[tp]

    async def _read_topic(self, name: str) -> None:
        s = self.session
        try:
            data, _ = await s.get(paths.topic_path(name), self._watch(("topic", name)))
        except NoNode:
            self._forget_topic(name)
            return
        assignment = TopicAssignment.decode(name, data)
        try:
            cdata, _ = await s.get(paths.topic_config_path(name), self._watch(("topic", name)))
            self.topic_configs[name] = paths.decode_config(cdata)
        except NoNode:
            self.topic_configs[name] = {}
        self.topics[name] = assignment
        for index in assignment.replicas:
            await self._read_state(name, index)

    async def _read_state(self, topic: str, index: int) -> None:
        if topic not in self.topics:
            return
        found = await self._get_or_watch(paths.state_path(topic, index), ("state", topic, index))
        if found is None:
            self.states.pop((topic, index), None)
        else:
            self.states[(topic, index)] = PartitionState.decode(found[0], found[1].version)

    async def _get_or_watch(self, path: str, key: tuple) -> tuple[bytes, Stat] | None:
        """The znode's data and stat with a watch on it, or None with a watch on its creation.

        A get that finds nothing is followed by an exists to watch for the creation; on ZooKeeper the znode may
        be created between the two (another broker wins the controller election, the controller writes a first
        partition state). The exists then finds it and its watch waits for the *next* change, so taking the
        answer as "absent" would leave the cache without it indefinitely: read it again instead."""
        while True:
            try:
                return await self.session.get(path, self._watch(key))
            except NoNode:
                if await self.session.exists(path, self._watch(key)) is None:
                    return None

    # -- writes any broker makes (as Kafka's AdminZkClient)

    async def create_topic(self, name: str, replicas: dict[int, list[int]], configs: dict[str, str],
                           topic_id: bytes | None = None) -> TopicAssignment:
        assignment = TopicAssignment(name, topic_id or uuid.uuid4().bytes, replicas)
        try:
            await self.session.multi([Create(paths.topic_config_path(name), paths.encode_config(configs)),
                                      Create(paths.topic_path(name), assignment.encode())])
        except NodeExists as exc:
            raise KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{name}' already exists.") from exc
        return assignment

    async def delete_topic(self, name: str) -> None:
        for path in (paths.topic_path(name), paths.topic_config_path(name)):
            try:
                await self.session.delete(path, recursive=True)
            except NoNode:
                pass

    async def set_assignment(self, name: str, replicas: dict[int, list[int]]) -> None:
        current = self.topics.get(name)
        if current is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"The topic '{name}' does not exist.")
        await self.session.set(paths.topic_path(name), TopicAssignment(name, current.topic_id, replicas).encode())

    async def set_topic_configs(self, name: str, configs: dict[str, str]) -> None:
        try:
            await self.session.set(paths.topic_config_path(name), paths.encode_config(configs))
        except NoNode:
            await self.session.create(paths.topic_config_path(name), paths.encode_config(configs), makepath=True)

    async def allocate_producer_ids(self, block: int) -> tuple[int, int]:
        """Take the next block of producer ids [start, end) for this broker (conditional write, retried)."""
        s = self.session
        while True:
            try:
                data, stat = await s.get(paths.PRODUCER_ID_BLOCK)
            except NoNode:
                try:
                    await s.create(paths.PRODUCER_ID_BLOCK, b"")
                except NodeExists:
                    pass
                continue
            start = paths.decode_producer_block(data) + 1
            try:
                await s.set(paths.PRODUCER_ID_BLOCK,
                            paths.encode_producer_block(self.broker_id, start, start + block - 1), stat.version)
            except Exception as exc:  # BadVersion: another broker took one; read again
                if isinstance(exc, (ConnectionLoss, SessionExpired)):
                    raise
                continue
            return start, start + block
