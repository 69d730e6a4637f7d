"""The group coordinator's state (groups, committed offsets, deadlines) and how it is stored and loaded.

Every other part of the coordinator (classic protocol, offsets, administration, KIP-848 consumer groups) works on
this one state; keeping it, its configuration, its persistence and its replay in one base class lets those parts
sit in their own modules without reaching sideways into each other.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable

import anyio

from kbroker.coordinator.classic import ClassicGroup, ClassicMember, ClassicState, wall_ms
from kbroker.coordinator.records import (
    ConsumerGroupRecord,
    GroupMetadata,
    GroupRecord,
    MemberMetadata,
    OffsetAndMetadata,
    OffsetRecord,
    StoredRecord,
)
from kbroker.coordinator.store import LogOffsetStore, MemoryOffsetStore, OffsetStore
from kbroker.coordinator.timer import Timer
from wire.errors import ErrorCode, KafkaError

if TYPE_CHECKING:
    from kbroker.broker import Broker
    from kbroker.coordinator.consumer import ConsumerGroupManager
    from kbroker.coordinator.consumer_group import ConsumerGroup

log = logging.getLogger(__name__)

E = ErrorCode
DEFAULTS: dict[str, Any] = {
    "group.min.session.timeout.ms": 6000,
    "group.max.session.timeout.ms": 1800000,
    "group.initial.rebalance.delay.ms": 0,
    "group.max.size": 2**31 - 1,
    "offsets.retention.minutes": 10080,
    "offsets.retention.check.interval.ms": 600000,
    "offset.metadata.max.bytes": 4096,
    "group.consumer.session.timeout.ms": 45000,
    "group.consumer.heartbeat.interval.ms": 5000,
    "group.consumer.min.session.timeout.ms": 45000,
    "group.consumer.max.session.timeout.ms": 60000,
    "group.consumer.max.size": 2**31 - 1,
    "group.consumer.assignors": "uniform,range",
}

_UNLOADED, _LOADING, _LOADED = 0, 1, 2


class GroupState:
    """State, configuration, persistence and loading shared by every part of the group coordinator."""

    def __init__(self, broker: "Broker | None" = None, *, config: Any = None, store: OffsetStore | None = None) -> None:
        self.broker = broker
        self._config = config if config is not None else (broker.config if broker is not None else None)
        if store is None:
            store = LogOffsetStore(broker) if broker is not None else MemoryOffsetStore()
        self.store: OffsetStore = store
        self.groups: dict[str, ClassicGroup | "ConsumerGroup"] = {}
        self.offsets: dict[str, dict[tuple[str, int], OffsetAndMetadata]] = {}
        self.timer = Timer()
        self._load_state = _UNLOADED
        self._running = False
        self._wake: anyio.Event | None = None
        self.owns: Callable[[str], bool] | None = None
        """In a cluster: whether this broker coordinates a group (leads its offsets partition)."""

    # ---------------------------------------------------------------------------------------------------------
    # configuration, loading

    def cfg(self, key: str) -> Any:
        """A broker setting (any of Kafka's broker keys through BrokerConfig), else the default here."""
        config = self._config
        if config is None:
            return DEFAULTS[key]
        if isinstance(config, dict):
            return config.get(key, DEFAULTS[key])
        try:
            value = config[key]
        except (KeyError, ValueError):
            value = None
        if value is None:
            text = (getattr(config, "unknown", None) or {}).get(key)
            default = DEFAULTS[key]
            try:
                return type(default)(text) if text is not None else default
            except ValueError:
                return default
        return value

    @property
    def loaded(self) -> bool:
        return self._load_state == _LOADED

    def ensure_offsets_topic(self) -> None:
        """Create __consumer_offsets if the store keeps its records there (FindCoordinator does this first)."""
        ensure = getattr(self.store, "ensure_topic", None)
        if ensure is not None:
            ensure()

    def _lookup(self, group_id: str) -> tuple[int, Any]:
        """(error, group) for a request naming a group: not loaded yet, or an empty group id, comes first; in a
        cluster, NOT_COORDINATOR when this broker does not lead the group's offsets partition."""
        error = self._ready() or (E.NONE if group_id else E.INVALID_GROUP_ID)
        if not error and self.owns is not None and not self.owns(group_id):
            error = E.NOT_COORDINATOR
        return error, self.groups.get(group_id)

    def _ready(self) -> int:
        """NONE when group operations may proceed (loading synchronously if nobody started run()), else the
        error to answer with. Also runs any deadline that is due when no background task does it."""
        if self._load_state == _UNLOADED:
            self._load_state = _LOADING
            try:
                for record in self.store.replay():
                    self._replay(record)
            finally:
                self._on_loaded()
        if self._load_state == _LOADING:
            return E.COORDINATOR_LOAD_IN_PROGRESS
        if not self._running:
            self.timer.poll()
        return E.NONE

    async def _load_async(self) -> None:
        if self._load_state != _UNLOADED:
            return
        self._load_state = _LOADING
        try:
            for i, record in enumerate(self.store.replay()):
                self._replay(record)
                if i % 2000 == 1999:
                    await anyio.sleep(0)  # keep the broker answering (COORDINATOR_LOAD_IN_PROGRESS) meanwhile
        finally:
            self._on_loaded()


    def _on_loaded(self) -> None:
        """Called once the stored state is replayed; GroupCoordinator extends it to restart the deadlines."""
        self._load_state = _LOADED

    def _forget_state(self) -> None:
        """Drop all state (keeping the timer's wake-up hook) so that it loads again before the next operation."""
        self.groups.clear()
        self.offsets.clear()
        hook, self.timer = self.timer.on_earlier, Timer()
        self.timer.on_earlier = hook
        self.__dict__.pop("_consumer_groups", None)
        self._load_state = _UNLOADED

    # ---------------------------------------------------------------------------------------------------------
    # persistence

    def _append(self, group_id: str, records: list[StoredRecord]) -> None:
        if records:
            self.store.append(group_id, records, wall_ms())

    def _replay(self, record: StoredRecord) -> None:
        if isinstance(record, ConsumerGroupRecord):
            self.consumer_groups.replay(record)
            return
        if isinstance(record, OffsetRecord):
            if record.value is None:
                group_offsets = self.offsets.get(record.group_id)
                if group_offsets is not None:
                    group_offsets.pop((record.topic, record.partition), None)
                    if not group_offsets:
                        del self.offsets[record.group_id]
                return
            self.offsets.setdefault(record.group_id, {})[(record.topic, record.partition)] = record.value
            if record.group_id not in self.groups:
                self.groups[record.group_id] = ClassicGroup(record.group_id)
            return
        if record.value is None:
            group = self.groups.pop(record.group_id, None)
            if group is not None and record.group_id in self.offsets:
                # offsets outlive a group tombstone only if committed after it; keep them with a simple group
                self.groups[record.group_id] = ClassicGroup(record.group_id)
            return
        self.groups[record.group_id] = self._group_from_metadata(record.group_id, record.value)

    def _group_from_metadata(self, group_id: str, value: GroupMetadata) -> ClassicGroup:
        group = ClassicGroup(group_id)
        group.generation_id = value.generation
        group.protocol_type = value.protocol_type or None
        group.protocol_name = value.protocol
        group.state_timestamp_ms = value.current_state_timestamp_ms if value.current_state_timestamp_ms >= 0 else None
        for m in value.members:
            member = ClassicMember(m.member_id, m.group_instance_id, m.client_id, m.client_host,
                                   m.rebalance_timeout_ms, m.session_timeout_ms, value.protocol_type,
                                   [(value.protocol or "", m.subscription)], assignment=m.assignment)
            group.members[member.member_id] = member
            if member.group_instance_id is not None:
                group.static_members[member.group_instance_id] = member.member_id
        group.leader_id = value.leader if value.leader in group.members else next(iter(group.members), None)
        group.state = ClassicState.STABLE if group.members else ClassicState.EMPTY
        group.subscribed_topics = group.compute_subscribed_topics()
        return group

    def _group_record(self, group: ClassicGroup, assignment: dict[str, bytes] | None = None) -> GroupRecord:
        members = []
        for m in group.members.values():
            members.append(MemberMetadata(
                m.member_id, m.group_instance_id, m.client_id, m.client_host, m.rebalance_timeout_ms,
                m.session_timeout_ms, m.metadata(group.protocol_name),
                (assignment or {}).get(m.member_id, m.assignment) if assignment is not None else m.assignment))
        value = GroupMetadata(group.protocol_type or "", group.generation_id, group.protocol_name,
                              group.leader_id if group.members else None,
                              group.state_timestamp_ms if group.state_timestamp_ms is not None else -1, members)
        return GroupRecord(group.group_id, value)

    def _try_append(self, group_id: str, records: list[StoredRecord], what: str) -> int:
        """Store records where a failed write is logged and answered with its code rather than raised
        (what: the warning's phrase, "could not <what> group <id>")."""
        try:
            self._append(group_id, records)
        except KafkaError as exc:
            log.warning("could not %s group %s: %s", what, group_id, exc)
            return int(exc.code)
        return E.NONE

    def _store_group(self, group: ClassicGroup, assignment: dict[str, bytes] | None = None) -> int:
        return self._try_append(group.group_id, [self._group_record(group, assignment)], "store metadata of")

    # ---------------------------------------------------------------------------------------------------------
    # lookups

    def _classic(self, group_id: str) -> ClassicGroup | None:
        group = self.groups.get(group_id)
        return group if isinstance(group, ClassicGroup) else None

    def _group_tombstones(self, group: Any) -> list[StoredRecord]:
        if isinstance(group, ClassicGroup):
            return [GroupRecord(group.group_id, None)]
        return self.consumer_groups.tombstones(group.group_id)

    def _remove_group(self, group_id: str) -> None:
        group = self.groups.pop(group_id, None)
        if isinstance(group, ClassicGroup):
            group.state = ClassicState.DEAD
        elif group is not None:
            self.consumer_groups.forget(group_id)
        self.timer.cancel_matching(lambda key: isinstance(key, tuple) and len(key) > 1 and key[1] == group_id)

    # ---------------------------------------------------------------------------------------------------------
    # KIP-848 consumer groups live in their own module; it reaches back into this object's state

    @property
    def consumer_groups(self) -> "ConsumerGroupManager":
        manager = getattr(self, "_consumer_groups", None)
        if manager is None:
            from kbroker.coordinator.consumer import ConsumerGroupManager

            manager = self._consumer_groups = ConsumerGroupManager(self)
        return manager
