"""The group coordinator: classic groups (JoinGroup/SyncGroup/Heartbeat/LeaveGroup), committed offsets, group
administration, and (kbroker.coordinator.consumer) KIP-848 consumer groups.

One object owns all group and offset state. Its operations are synchronous methods that run on the event loop
between awaits, so each one sees and leaves a consistent state; the only waits (a JoinGroup for the other members,
a SyncGroup for the leader's assignment) park the handler on a Waiter that a later operation or a timer completes.
Deadlines (sessions, join and sync phases, KIP-848 rebalance timeouts, offsets retention) live in one keyed Timer,
driven by `run()` when the broker starts it, and otherwise by the requests themselves (each operation first runs
what is due, and a parked request wakes at the next deadline), so the coordinator also works unattended.

Behaviour follows Kafka's GroupMetadataManager and OffsetMetadataManager (facts, not code).
"""
from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any, Callable, Iterable

import anyio

from kbroker.coordinator.classic import CONSUMER_PROTOCOL_TYPE, ClassicGroup, ClassicMember, ClassicState, wall_ms
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
from kbroker.coordinator.timer import Timer, monotonic_ms
from kbroker.coordinator.waiter import Waiter, completed
from wire.errors import ErrorCode, KafkaError

if TYPE_CHECKING:
    from kbroker.broker import Broker
    from kbroker.coordinator.consumer import ConsumerGroup, ConsumerGroupManager

log = logging.getLogger(__name__)

E = ErrorCode
NEW_MEMBER_JOIN_TIMEOUT_MS = 5 * 60 * 1000
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


def _hb_key(group_id: str, member_id: str) -> tuple:
    return ("hb", group_id, member_id)


def _join_key(group_id: str) -> tuple:
    return ("join", group_id)


def _sync_key(group_id: str) -> tuple:
    return ("sync", group_id)


def join_response(error: int = 0, member_id: str = "", **fields: Any) -> dict:
    out = {"error_code": int(error), "generation_id": -1, "protocol_type": None, "protocol_name": None,
           "leader": "", "skip_assignment": False, "member_id": member_id, "members": []}
    out.update(fields)
    return out


def sync_response(error: int = 0, **fields: Any) -> dict:
    out = {"error_code": int(error), "protocol_type": None, "protocol_name": None, "assignment": b""}
    out.update(fields)
    return out


class GroupCoordinator:
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
    # configuration, loading, the background task

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

    def reload(self) -> None:
        """Leadership of offsets partitions moved (kbroker.cluster): answer parked requests NOT_COORDINATOR,
        forget the state, and load it again from the partition logs before the next operation."""
        self._shutdown()
        self.groups.clear()
        self.offsets.clear()
        hook, self.timer = self.timer.on_earlier, Timer()
        self.timer.on_earlier = hook
        self.__dict__.pop("_consumer_groups", None)
        self._load_state = _UNLOADED

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
        self._load_state = _LOADED
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

    def _shutdown(self) -> None:
        """Answer every parked request (the broker is going away); clients find the coordinator again."""
        for group in self.groups.values():
            if isinstance(group, ClassicGroup):
                for member in group.members.values():
                    if member.join_waiter is not None:
                        member.join_waiter.complete(join_response(E.NOT_COORDINATOR, member.member_id))
                        member.join_waiter = None
                    if member.sync_waiter is not None:
                        member.sync_waiter.complete(sync_response(E.NOT_COORDINATOR))
                        member.sync_waiter = None

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

    def join_bound_ms(self, group_id: str, rebalance_timeout_ms: int) -> int:
        """How long a JoinGroup may stay parked: its join phase ends within the group's rebalance timeout
        (after the initial delay for a new group); the rest is a safety margin."""
        group = self._classic(group_id)
        longest = max(rebalance_timeout_ms, group.rebalance_timeout_ms() if group is not None else 0)
        return 2 * longest + int(self.cfg("group.initial.rebalance.delay.ms")) + 10_000

    def sync_bound_ms(self, group_id: str) -> int:
        """How long a SyncGroup may stay parked: the sync phase expires after the group's rebalance timeout."""
        group = self._classic(group_id)
        return 2 * (group.rebalance_timeout_ms() if group is not None else 0) + 10_000

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

    def _store_group(self, group: ClassicGroup, assignment: dict[str, bytes] | None = None) -> int:
        try:
            self._append(group.group_id, [self._group_record(group, assignment)])
        except KafkaError as exc:
            log.warning("could not store metadata of group %s: %s", group.group_id, exc)
            return int(exc.code)
        return E.NONE

    # ---------------------------------------------------------------------------------------------------------
    # lookups

    def _classic(self, group_id: str) -> ClassicGroup | None:
        group = self.groups.get(group_id)
        return group if isinstance(group, ClassicGroup) else None

    @staticmethod
    def _validate_member(group: ClassicGroup, member_id: str, instance_id: str | None) -> int:
        if instance_id is not None:
            existing = group.static_member_id(instance_id)
            if existing is None:
                return E.UNKNOWN_MEMBER_ID
            if existing != member_id:
                return E.FENCED_INSTANCE_ID
        if member_id not in group.members:
            return E.UNKNOWN_MEMBER_ID
        return E.NONE

    # ---------------------------------------------------------------------------------------------------------
    # JoinGroup

    def join_group(
        self,
        *,
        version: int,
        group_id: str,
        member_id: str,
        group_instance_id: str | None,
        session_timeout_ms: int,
        rebalance_timeout_ms: int,
        protocol_type: str,
        protocols: list[tuple[str, bytes]],
        client_id: str,
        client_host: str,
        reason: str | None = None,
    ) -> Waiter:
        error, existing = self._lookup(group_id)
        if error:
            return completed(join_response(error, member_id))
        if not self.cfg("group.min.session.timeout.ms") <= session_timeout_ms <= self.cfg("group.max.session.timeout.ms"):
            return completed(join_response(E.INVALID_SESSION_TIMEOUT, member_id))
        if existing is not None and not isinstance(existing, ClassicGroup):
            if not existing.is_empty:
                # classic members joining a KIP-848 group (online migration) are not supported here
                return completed(join_response(E.INCONSISTENT_GROUP_PROTOCOL, ""))
            self.consumer_groups.drop_empty(group_id)  # an empty consumer group becomes a classic one
            existing = None
        unknown = member_id == ""
        if existing is None:
            if not unknown:
                return completed(join_response(E.UNKNOWN_MEMBER_ID, member_id))
            existing = ClassicGroup(group_id)
            self.groups[group_id] = existing
        group: ClassicGroup = existing
        if not self._accept_joining_member(group, member_id):
            group.remove(member_id)
            return completed(join_response(E.GROUP_MAX_SIZE_REACHED, ""))
        request = _JoinRequest(version, group_id, member_id, group_instance_id, session_timeout_ms,
                               rebalance_timeout_ms, protocol_type, protocols, client_id, client_host, reason)
        if unknown:
            return self._join_new_member(group, request)
        return self._join_existing_member(group, request)

    def _accept_joining_member(self, group: ClassicGroup, member_id: str) -> bool:
        limit = self.cfg("group.max.size")
        if group.is_in(ClassicState.EMPTY, ClassicState.DEAD):
            return True
        if group.is_in(ClassicState.PREPARING_REBALANCE):
            member = group.members.get(member_id)
            return (member is not None and member.awaiting_join) or group.num_awaiting_join() < limit
        return member_id in group.members or len(group.members) < limit

    def _join_new_member(self, group: ClassicGroup, req: "_JoinRequest") -> Waiter:
        if group.is_in(ClassicState.DEAD):
            return completed(join_response(E.COORDINATOR_NOT_AVAILABLE, ""))
        if not group.supports_protocols(req.protocol_type, [n for n, _ in req.protocols]):
            return completed(join_response(E.INCONSISTENT_GROUP_PROTOCOL, ""))
        new_id = group.generate_member_id(req.client_id, req.group_instance_id)
        if req.group_instance_id is not None:
            old_id = group.static_member_id(req.group_instance_id)
            if old_id is not None:
                log.info("static member %s of group %s rejoins in %s: replacing member %s by %s",
                         req.group_instance_id, group.group_id, group.state_name, old_id, new_id)
                return self._update_static_member(group, req, old_id, new_id)
            return self._add_member_and_rebalance(group, req, new_id)
        if req.version >= 4:
            # KIP-394: hand out the id and wait for the member to join with it
            group.pending_members.add(new_id)
            self.timer.schedule(_hb_key(group.group_id, new_id), req.session_timeout_ms,
                                lambda: self._expire_heartbeat(group.group_id, new_id))
            return completed(join_response(E.MEMBER_ID_REQUIRED, new_id))
        return self._add_member_and_rebalance(group, req, new_id)

    def _join_existing_member(self, group: ClassicGroup, req: "_JoinRequest") -> Waiter:
        member_id = req.member_id
        if group.is_in(ClassicState.DEAD):
            return completed(join_response(E.COORDINATOR_NOT_AVAILABLE, member_id))
        if not group.supports_protocols(req.protocol_type, [n for n, _ in req.protocols]):
            return completed(join_response(E.INCONSISTENT_GROUP_PROTOCOL, member_id))
        if member_id in group.pending_members:
            if req.group_instance_id is not None:
                return completed(join_response(E.UNKNOWN_MEMBER_ID, member_id))
            return self._add_member_and_rebalance(group, req, member_id)
        error = self._validate_member(group, member_id, req.group_instance_id)
        if error:
            return completed(join_response(error, member_id))
        member = group.members[member_id]
        if group.is_in(ClassicState.PREPARING_REBALANCE):
            return self._update_member_and_rebalance(group, member, req, "member joins during a rebalance")
        if group.is_in(ClassicState.COMPLETING_REBALANCE):
            if member.matches(req.protocols):
                # a repeated JoinGroup (the member missed the answer): the current generation again
                return completed(self._current_join_response(group, member_id, include_members=group.is_leader(member_id)))
            return self._update_member_and_rebalance(group, member, req, "member metadata changed")
        if group.is_in(ClassicState.STABLE):
            if group.is_leader(member_id) or not member.matches(req.protocols):
                # the leader may rejoin to have the group reassigned (e.g. its topics' partitions changed)
                return self._update_member_and_rebalance(group, member, req, "leader rejoins or metadata changed")
            return completed(self._current_join_response(group, member_id, include_members=False))
        log.warning("member %s rejoins group %s in unexpected state %s", member_id, group.group_id, group.state_name)
        return completed(join_response(E.UNKNOWN_MEMBER_ID, member_id))

    def _current_join_response(self, group: ClassicGroup, member_id: str, *, include_members: bool,
                               leader: str | None = None, skip_assignment: bool = False) -> dict:
        return join_response(
            E.NONE, member_id, generation_id=group.generation_id, protocol_type=group.protocol_type,
            protocol_name=group.protocol_name, leader=(leader if leader is not None else group.leader_id) or "",
            skip_assignment=skip_assignment, members=group.join_members() if include_members else [])

    def _park_join(self, group: ClassicGroup, member: ClassicMember) -> Waiter:
        waiter = Waiter()
        if member.join_waiter is not None:
            member.join_waiter.complete(join_response(E.REBALANCE_IN_PROGRESS, member.member_id))
        member.join_waiter = waiter

        def abandon() -> None:
            if member.join_waiter is waiter:
                member.join_waiter = None

        waiter.on_abandon = abandon
        return waiter

    def _update_member(self, group: ClassicGroup, member: ClassicMember, req: "_JoinRequest") -> Waiter:
        """The member's new protocols and timeouts, and its JoinGroup parked."""
        member.protocols = list(req.protocols)
        member.rebalance_timeout_ms = req.rebalance_timeout_ms
        member.session_timeout_ms = req.session_timeout_ms
        return self._park_join(group, member)

    def _update_member_and_rebalance(self, group: ClassicGroup, member: ClassicMember, req: "_JoinRequest",
                                     reason: str) -> Waiter:
        waiter = self._update_member(group, member, req)
        self._maybe_prepare_rebalance_or_complete_join(group, reason)
        return waiter

    def _add_member_and_rebalance(self, group: ClassicGroup, req: "_JoinRequest", member_id: str) -> Waiter:
        member = ClassicMember(member_id, req.group_instance_id, req.client_id, req.client_host,
                               req.rebalance_timeout_ms, req.session_timeout_ms, req.protocol_type,
                               list(req.protocols), is_new=True)
        if group.is_in(ClassicState.PREPARING_REBALANCE) and group.previous_state is ClassicState.EMPTY:
            group.new_member_added = True
        group.add(member)
        waiter = self._park_join(group, member)
        # a new member cannot heartbeat before its first JoinGroup answer; it is given this long to get one
        self._reschedule_heartbeat(group, member, NEW_MEMBER_JOIN_TIMEOUT_MS)
        self._maybe_prepare_rebalance_or_complete_join(group, f"adding member {member_id}")
        return waiter

    def _update_static_member(self, group: ClassicGroup, req: "_JoinRequest", old_id: str, new_id: str) -> Waiter:
        current_leader = group.leader_id
        self.timer.cancel(_hb_key(group.group_id, old_id))
        old_member = group.members[old_id]
        old_protocols = (list(old_member.protocols), old_member.rebalance_timeout_ms, old_member.session_timeout_ms)
        member = group.replace_static_member(req.group_instance_id or "", old_id, new_id)
        self._reschedule_heartbeat(group, member)
        waiter = self._update_member(group, member, req)
        if group.is_in(ClassicState.STABLE):
            if group.protocol_name == group.select_protocol():
                # KIP-345: a restarting static member gets its old assignment back, with no rebalance
                error = self._store_group(group)
                if error:
                    member.protocols, member.rebalance_timeout_ms, member.session_timeout_ms = old_protocols
                    member.join_waiter = None
                    group.replace_static_member(req.group_instance_id or "", new_id, old_id)
                    self.timer.cancel(_hb_key(group.group_id, new_id))
                    self._reschedule_heartbeat(group, member)
                    waiter.complete(join_response(error, "", generation_id=group.generation_id,
                                                  protocol_type=group.protocol_type,
                                                  protocol_name=group.protocol_name, leader=current_leader or ""))
                    return waiter
                member.join_waiter = None
                if req.version >= 9:
                    is_leader = group.is_leader(new_id)
                    waiter.complete(self._current_join_response(group, new_id, include_members=is_leader,
                                                                skip_assignment=is_leader))
                else:
                    waiter.complete(self._current_join_response(group, new_id, include_members=False,
                                                                leader=current_leader))
                return waiter
            self._maybe_prepare_rebalance_or_complete_join(group, f"static member {req.group_instance_id} "
                                                                  "rejoins with a change of protocol")
        elif group.is_in(ClassicState.COMPLETING_REBALANCE):
            # the leader may already have been handed the old member id: assign again
            self._prepare_rebalance(group, f"static member {req.group_instance_id} rejoins during a sync")
        else:
            self._maybe_complete_join_phase(group)
        return waiter

    # -- rebalance mechanics

    def _maybe_prepare_rebalance_or_complete_join(self, group: ClassicGroup, reason: str) -> None:
        if group.can_rebalance():
            self._prepare_rebalance(group, reason)
        else:
            self._maybe_complete_join_phase(group)

    def _maybe_complete_join_phase(self, group: ClassicGroup) -> None:
        if not group.is_in(ClassicState.PREPARING_REBALANCE):
            return
        if group.previous_state is ClassicState.EMPTY:
            return  # the initial rebalance ends on its (delayed) timer
        if not group.has_all_members_joined():
            return
        self._complete_join(group)

    def _prepare_rebalance(self, group: ClassicGroup, reason: str) -> None:
        if group.is_in(ClassicState.COMPLETING_REBALANCE):
            self._reset_and_propagate_assignment(group, E.REBALANCE_IN_PROGRESS)
        group.pending_sync.clear()
        self.timer.cancel(_sync_key(group.group_id))
        initial = group.is_in(ClassicState.EMPTY)
        gid = group.group_id
        if initial:
            delay = int(self.cfg("group.initial.rebalance.delay.ms"))
            remaining = max(group.rebalance_timeout_ms() - delay, 0)
            self.timer.schedule(_join_key(gid), delay,
                                lambda: self._try_complete_initial_rebalance(gid, delay, remaining))
        group.transition_to(ClassicState.PREPARING_REBALANCE)
        log.info("preparing to rebalance group %s with old generation %d (%s)", gid, group.generation_id, reason)
        if not initial:
            self._maybe_complete_join_else_schedule(group)

    def _maybe_complete_join_else_schedule(self, group: ClassicGroup) -> None:
        if group.has_all_members_joined():
            self._complete_join(group)
        else:
            gid = group.group_id
            self.timer.schedule(_join_key(gid), group.rebalance_timeout_ms(), lambda: self._complete_join_by_id(gid))

    def _try_complete_initial_rebalance(self, group_id: str, delay: int, remaining: int) -> None:
        group = self._classic(group_id)
        if group is None:
            return
        if group.new_member_added and remaining != 0:
            group.new_member_added = False
            initial = int(self.cfg("group.initial.rebalance.delay.ms"))
            new_delay = min(initial, remaining)
            new_remaining = max(remaining - delay, 0)
            self.timer.schedule(_join_key(group_id), new_delay,
                                lambda: self._try_complete_initial_rebalance(group_id, new_delay, new_remaining))
        else:
            self._complete_join(group)

    def _complete_join_by_id(self, group_id: str) -> None:
        group = self._classic(group_id)
        if group is not None:
            self._complete_join(group)

    def _complete_join(self, group: ClassicGroup) -> None:
        gid = group.group_id
        self.timer.cancel(_join_key(gid))
        if not group.is_in(ClassicState.PREPARING_REBALANCE):
            return
        failed = [m for m in group.not_yet_rejoined() if m.group_instance_id is None]
        for member in failed:
            group.remove(member.member_id)
            self.timer.cancel(_hb_key(gid, member.member_id))
        if failed:
            log.info("group %s removed dynamic members who did not rejoin: %s", gid, [m.member_id for m in failed])
        if group.members and not group.maybe_elect_new_joined_leader():
            # nobody rejoined (only static members that did not come back): wait for sessions to expire
            self.timer.schedule(_join_key(gid), group.rebalance_timeout_ms(), lambda: self._complete_join_by_id(gid))
            return
        group.init_next_generation()
        if group.is_in(ClassicState.EMPTY):
            log.info("group %s with generation %d is now empty", gid, group.generation_id)
            self._store_group(group)
            return
        log.info("stabilized group %s generation %d with %d member(s), protocol %s", gid, group.generation_id,
                 len(group.members), group.protocol_name)
        for member in group.members.values():
            response = self._current_join_response(group, member.member_id, include_members=group.is_leader(member.member_id))
            if member.join_waiter is not None:
                member.join_waiter.complete(response)
                member.join_waiter = None
            self._reschedule_heartbeat(group, member)
            member.is_new = False
            group.pending_sync.add(member.member_id)
        generation = group.generation_id
        self.timer.schedule(_sync_key(gid), group.rebalance_timeout_ms(),
                            lambda: self._expire_pending_sync(gid, generation))

    def _expire_pending_sync(self, group_id: str, generation: int) -> None:
        group = self._classic(group_id)
        if group is None or group.generation_id != generation:
            return
        if group.is_in(ClassicState.COMPLETING_REBALANCE, ClassicState.STABLE) and group.pending_sync:
            missing = list(group.pending_sync)
            for member_id in missing:
                self._drop_member(group, member_id)
            log.info("group %s removed members that sent no SyncGroup in time: %s", group_id, missing)
            self._prepare_rebalance(group, "members did not sync in time")

    def _reset_and_propagate_assignment(self, group: ClassicGroup, error: int) -> None:
        for member in group.members.values():
            member.assignment = b""
        self._propagate_assignment(group, error)

    def _propagate_assignment(self, group: ClassicGroup, error: int) -> None:
        for member in group.members.values():
            if member.sync_waiter is None:
                continue
            if error == E.NONE:
                response = sync_response(E.NONE, protocol_type=group.protocol_type,
                                         protocol_name=group.protocol_name, assignment=member.assignment)
            else:
                response = sync_response(error)
            member.sync_waiter.complete(response)
            member.sync_waiter = None
            self._reschedule_heartbeat(group, member)

    def _reschedule_heartbeat(self, group: ClassicGroup, member: ClassicMember, timeout_ms: int | None = None) -> None:
        gid, mid = group.group_id, member.member_id
        self.timer.schedule(_hb_key(gid, mid), member.session_timeout_ms if timeout_ms is None else timeout_ms,
                            lambda: self._expire_heartbeat(gid, mid))

    def _expire_heartbeat(self, group_id: str, member_id: str) -> None:
        group = self._classic(group_id)
        if group is None or group.is_in(ClassicState.DEAD):
            return
        if member_id in group.pending_members:
            group.pending_members.discard(member_id)
            if group.is_in(ClassicState.PREPARING_REBALANCE) and group.has_all_members_joined():
                self._complete_join(group)
            return
        member = group.members.get(member_id)
        if member is None or member.has_satisfied_heartbeat():
            return
        log.info("member %s of group %s failed to heartbeat in time: removing it", member_id, group_id)
        self._remove_member_and_update(group, member_id, "session timeout")

    def _drop_member(self, group: ClassicGroup, member_id: str) -> None:
        """Take a member out, answering its parked requests with UNKNOWN_MEMBER_ID."""
        member = group.members.get(member_id)
        self.timer.cancel(_hb_key(group.group_id, member_id))
        if member is not None:
            if member.join_waiter is not None:
                member.join_waiter.complete(join_response(E.UNKNOWN_MEMBER_ID, ""))
                member.join_waiter = None
            if member.sync_waiter is not None:
                member.sync_waiter.complete(sync_response(E.UNKNOWN_MEMBER_ID))
                member.sync_waiter = None
        group.remove(member_id)

    def _remove_member_and_update(self, group: ClassicGroup, member_id: str, reason: str) -> None:
        self._drop_member(group, member_id)
        if group.is_in(ClassicState.STABLE, ClassicState.COMPLETING_REBALANCE):
            self._maybe_prepare_rebalance_or_complete_join(group, reason)
        elif group.is_in(ClassicState.PREPARING_REBALANCE) and group.has_all_members_joined():
            self._complete_join(group)

    # ---------------------------------------------------------------------------------------------------------
    # SyncGroup

    def sync_group(
        self,
        *,
        group_id: str,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
        protocol_type: str | None,
        protocol_name: str | None,
        assignments: list[tuple[str, bytes]],
    ) -> Waiter:
        error, group = self._lookup(group_id)
        if error:
            return completed(sync_response(error))
        if group is None or group.is_empty or not isinstance(group, ClassicGroup):
            return completed(sync_response(E.UNKNOWN_MEMBER_ID))
        if group.is_in(ClassicState.DEAD):
            return completed(sync_response(E.COORDINATOR_NOT_AVAILABLE))
        error = self._validate_member(group, member_id, group_instance_id)
        if error:
            return completed(sync_response(error))
        if generation_id != group.generation_id:
            return completed(sync_response(E.ILLEGAL_GENERATION))
        if (protocol_type is not None and group.protocol_type is not None and protocol_type != group.protocol_type) or (
                protocol_name is not None and group.protocol_name is not None and protocol_name != group.protocol_name):
            return completed(sync_response(E.INCONSISTENT_GROUP_PROTOCOL))
        if group.is_in(ClassicState.PREPARING_REBALANCE):
            return completed(sync_response(E.REBALANCE_IN_PROGRESS))
        member = group.members[member_id]
        if group.is_in(ClassicState.STABLE):
            self._remove_pending_sync(group, member_id)
            return completed(sync_response(E.NONE, protocol_type=group.protocol_type,
                                           protocol_name=group.protocol_name, assignment=member.assignment))
        # CompletingRebalance: park until the leader's assignment is in
        waiter = Waiter()
        if member.sync_waiter is not None:
            member.sync_waiter.complete(sync_response(E.REBALANCE_IN_PROGRESS))
        member.sync_waiter = waiter

        def abandon() -> None:
            if member.sync_waiter is waiter:
                member.sync_waiter = None

        waiter.on_abandon = abandon
        self._remove_pending_sync(group, member_id)
        if group.is_leader(member_id):
            assignment = {mid: data for mid, data in assignments}
            for mid in group.members:
                assignment.setdefault(mid, b"")
            error = self._store_group(group, assignment)
            if error:
                self._reset_and_propagate_assignment(group, error)
                self._maybe_prepare_rebalance_or_complete_join(group, "storing the assignment failed")
            else:
                for mid, m in group.members.items():
                    m.assignment = assignment.get(mid, b"")
                self._propagate_assignment(group, E.NONE)
                group.transition_to(ClassicState.STABLE)
        return waiter

    def _remove_pending_sync(self, group: ClassicGroup, member_id: str) -> None:
        group.pending_sync.discard(member_id)
        if not group.is_in(ClassicState.COMPLETING_REBALANCE, ClassicState.STABLE) or not group.pending_sync:
            self.timer.cancel(_sync_key(group.group_id))

    # ---------------------------------------------------------------------------------------------------------
    # Heartbeat, LeaveGroup

    def heartbeat(self, *, group_id: str, generation_id: int, member_id: str, group_instance_id: str | None) -> int:
        error, group = self._lookup(group_id)
        if error:
            return error
        if group is None:
            return E.UNKNOWN_MEMBER_ID
        if not isinstance(group, ClassicGroup):
            return self.consumer_groups.classic_heartbeat(group, member_id, group_instance_id, generation_id)
        if group.is_in(ClassicState.DEAD):
            return E.COORDINATOR_NOT_AVAILABLE
        error = self._validate_member(group, member_id, group_instance_id)
        if error:
            return error
        if generation_id != group.generation_id:
            return E.ILLEGAL_GENERATION
        if group.is_in(ClassicState.EMPTY):
            return E.UNKNOWN_MEMBER_ID
        self._reschedule_heartbeat(group, group.members[member_id])
        if group.is_in(ClassicState.PREPARING_REBALANCE):
            return E.REBALANCE_IN_PROGRESS
        return E.NONE

    def leave_group(self, group_id: str, members: list[tuple[str, str | None, str | None]]) -> tuple[int, list[dict]]:
        """members: (member id, group instance id, reason). (top-level error, per-member results)."""
        error, group = self._lookup(group_id)
        if error:
            return error, []
        if group is None:
            return E.UNKNOWN_MEMBER_ID, []
        if not isinstance(group, ClassicGroup):
            return self.consumer_groups.classic_leave(group, members)
        if group.is_in(ClassicState.DEAD):
            return E.COORDINATOR_NOT_AVAILABLE, []
        results = []
        left = []
        for member_id, instance_id, reason in members:
            code = E.NONE
            if member_id == "":
                static_id = group.static_member_id(instance_id)
                if static_id is not None:
                    self._drop_member(group, static_id)
                    left.append(static_id)
                else:
                    code = E.UNKNOWN_MEMBER_ID
            elif member_id in group.pending_members:
                group.remove(member_id)
                self.timer.cancel(_hb_key(group_id, member_id))
                left.append(member_id)
            else:
                code = self._validate_member(group, member_id, instance_id)
                if not code:
                    self._drop_member(group, member_id)
                    left.append(member_id)
            if not code:
                log.info("member %s left group %s (reason: %s)", member_id or instance_id, group_id,
                         reason or "not provided")
            results.append({"member_id": member_id, "group_instance_id": instance_id, "error_code": int(code)})
        if left:
            if group.is_in(ClassicState.STABLE, ClassicState.COMPLETING_REBALANCE):
                self._maybe_prepare_rebalance_or_complete_join(group, f"members left: {left}")
            elif group.is_in(ClassicState.PREPARING_REBALANCE):
                self._maybe_complete_join_phase(group)
        return E.NONE, results

    # ---------------------------------------------------------------------------------------------------------
    # offsets

    def commit_offsets(
        self,
        *,
        version: int,
        group_id: str,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
        retention_time_ms: int,
        partitions: list[tuple[str, int, int, int, str | None]],
    ) -> tuple[int, dict[tuple[str, int], int]]:
        """partitions: (topic, partition, offset, leader epoch, metadata). Returns (error for every partition,
        else 0; per-partition errors)."""
        error, group = self._lookup(group_id)
        if error:
            return error, {}
        if group is None:
            if generation_id >= 0:
                return (E.GROUP_ID_NOT_FOUND if version >= 9 else E.ILLEGAL_GENERATION), {}
            group = ClassicGroup(group_id)  # a "simple" group: offsets only, no membership
            self.groups[group_id] = group
            log.info("created simple group %s by a manual offset commit", group_id)
        if isinstance(group, ClassicGroup):
            error = self._validate_classic_commit(group, member_id, group_instance_id, generation_id)
            if error:
                return error, {}
            if group.is_in(ClassicState.STABLE, ClassicState.PREPARING_REBALANCE) and member_id in group.members:
                self._reschedule_heartbeat(group, group.members[member_id])
        else:
            error = self.consumer_groups.validate_commit(group, member_id, group_instance_id, generation_id, version)
            if error:
                return error, {}
        now = wall_ms()
        expire = None if retention_time_ms is None or retention_time_ms == -1 else now + retention_time_ms
        max_metadata = int(self.cfg("offset.metadata.max.bytes"))
        results: dict[tuple[str, int], int] = {}
        records: list[StoredRecord] = []
        for topic, partition, offset, leader_epoch, metadata in partitions:
            if metadata is not None and len(metadata) > max_metadata:
                results[(topic, partition)] = E.OFFSET_METADATA_TOO_LARGE
                continue
            value = OffsetAndMetadata(offset, leader_epoch, metadata or "", now, expire)
            records.append(OffsetRecord(group_id, topic, partition, value))
            results[(topic, partition)] = E.NONE
        try:
            self._append(group_id, records)
        except KafkaError as exc:
            for r in records:
                results[(r.topic, r.partition)] = exc.code  # type: ignore[union-attr]
            return E.NONE, results
        group_offsets = self.offsets.setdefault(group_id, {})
        for r in records:
            group_offsets[(r.topic, r.partition)] = r.value  # type: ignore[union-attr, assignment]
        return E.NONE, results

    def _validate_classic_commit(self, group: ClassicGroup, member_id: str, instance_id: str | None,
                                 generation_id: int, *, transactional: bool = False) -> int:
        """Kafka's validateOffsetCommit for a classic group; a transactional commit (TxnOffsetCommit) has no
        group-state requirement."""
        if group.is_in(ClassicState.DEAD):
            return E.COORDINATOR_NOT_AVAILABLE
        if generation_id < 0 and group.is_in(ClassicState.EMPTY):
            return E.NONE  # admin clients and consumers that assign partitions themselves
        if generation_id >= 0 or member_id or instance_id is not None:
            error = self._validate_member(group, member_id, instance_id)
            if error:
                return error
            if generation_id != group.generation_id:
                return E.ILLEGAL_GENERATION
        elif not transactional and not group.is_in(ClassicState.EMPTY):
            return E.UNKNOWN_MEMBER_ID
        if not transactional and group.is_in(ClassicState.COMPLETING_REBALANCE):
            return E.REBALANCE_IN_PROGRESS
        return E.NONE

    def validate_transactional_offset_commit(self, *, group_id: str, member_id: str, group_instance_id: str | None,
                                             generation_id: int) -> int:
        """The group checks of a TxnOffsetCommit (Kafka's validateOffsetCommit for a transactional commit: no
        state requirement, and a group that does not exist is fine with generation -1)."""
        error, group = self._lookup(group_id)
        if error:
            return error
        if group is None:
            if generation_id >= 0:
                return E.ILLEGAL_GENERATION
            self.groups[group_id] = ClassicGroup(group_id)  # Kafka creates the simple group here, not at commit
            return E.NONE
        if isinstance(group, ClassicGroup):
            return self._validate_classic_commit(group, member_id, group_instance_id, generation_id, transactional=True)
        error = self.consumer_groups.validate_commit(group, member_id, group_instance_id, generation_id, 9)
        return E.ILLEGAL_GENERATION if error == E.STALE_MEMBER_EPOCH else error

    def commit_transactional_offsets(self, group_id: str, offsets: dict[tuple[str, int], OffsetAndMetadata]) -> None:
        """Make the offsets of a committed transaction the group's committed offsets, durably (written again as
        plain records: replay skips transactional batches). KafkaError when they could not be stored."""
        error = self._ready()
        if error:
            raise KafkaError(ErrorCode(error), "the group coordinator is loading")
        self._append(group_id, [OffsetRecord(group_id, t, p, v) for (t, p), v in offsets.items()])
        self.offsets.setdefault(group_id, {}).update(offsets)
        if group_id not in self.groups:
            self.groups[group_id] = ClassicGroup(group_id)

    def _pending_transactional(self, group_id: str, topic: str, partition: int) -> bool:
        txn = getattr(self.broker, "transaction_coordinator", None) if self.broker is not None else None
        check = getattr(txn, "has_pending_offsets", None)
        return bool(check is not None and check(group_id, topic, partition))

    def fetch_offsets(
        self,
        group_id: str,
        topics: list[tuple[str, list[int]]] | None,
        *,
        member_id: str | None = None,
        member_epoch: int = -1,
        require_stable: bool = False,
    ) -> tuple[int, list[tuple[str, list[tuple[int, int, int, str, int]]]]]:
        """(group error, [(topic, [(partition, offset, leader epoch, metadata, error)])]); topics None: all."""
        error, group = self._lookup(group_id)
        if error:
            return error, []
        if group is not None and not isinstance(group, ClassicGroup):
            error = self.consumer_groups.validate_fetch(group, member_id, member_epoch)
            if error:
                return error, []
        dead = group is None or (isinstance(group, ClassicGroup) and group.is_in(ClassicState.DEAD))
        stored = {} if dead else self.offsets.get(group_id, {})
        out: list[tuple[str, list[tuple[int, int, int, str, int]]]] = []
        def row(topic: str, partition: int, value: OffsetAndMetadata | None) -> tuple[int, int, int, str, int]:
            if require_stable and self._pending_transactional(group_id, topic, partition):
                return (partition, -1, -1, "", int(E.UNSTABLE_OFFSET_COMMIT))
            if value is None:
                return (partition, -1, -1, "", 0)
            return (partition, value.offset, value.leader_epoch, value.metadata, 0)

        if topics is None:
            by_topic: dict[str, list[tuple[int, int, int, str, int]]] = {}
            for (topic, partition), value in sorted(stored.items()):
                by_topic.setdefault(topic, []).append(row(topic, partition, value))
            return E.NONE, list(by_topic.items())
        for topic, partitions in topics:
            out.append((topic, [row(topic, p, stored.get((topic, p))) for p in partitions]))
        return E.NONE, out

    def delete_offsets(self, group_id: str, topics: list[tuple[str, list[int]]]) -> tuple[int, list[tuple[str, list[tuple[int, int]]]]]:
        error, group = self._lookup(group_id)
        if error:
            return error, []
        if group is None:
            return E.GROUP_ID_NOT_FOUND, []
        if isinstance(group, ClassicGroup):
            if group.is_in(ClassicState.DEAD):
                return E.GROUP_ID_NOT_FOUND, []
            if not group.is_in(ClassicState.EMPTY) and group.protocol_type != CONSUMER_PROTOCOL_TYPE:
                return E.NON_EMPTY_GROUP, []
        stored = self.offsets.get(group_id, {})
        records: list[StoredRecord] = []
        out = []
        for topic, partitions in topics:
            if group.is_subscribed_to(topic):
                out.append((topic, [(p, int(E.GROUP_SUBSCRIBED_TO_TOPIC)) for p in partitions]))
                continue
            rows = []
            for p in partitions:
                rows.append((p, 0))
                if (topic, p) in stored:
                    records.append(OffsetRecord(group_id, topic, p, None))
            out.append((topic, rows))
        try:
            self._append(group_id, records)
        except KafkaError as exc:
            return exc.code, []
        for r in records:
            stored.pop((r.topic, r.partition), None)  # type: ignore[union-attr]
        if group_id in self.offsets and not self.offsets[group_id]:
            del self.offsets[group_id]
        return E.NONE, out

    # -- offsets retention

    def _schedule_offsets_expiry(self) -> None:
        interval = max(int(self.cfg("offsets.retention.check.interval.ms")), 100)
        self.timer.schedule(("offsets-expiry",), interval, self._expire_offsets)

    def _expire_offsets(self) -> None:
        try:
            self.expire_offsets(wall_ms())
        finally:
            self._schedule_offsets_expiry()

    def expire_offsets(self, now_ms: int) -> int:
        """Drop committed offsets past offsets.retention.minutes (Kafka's rules), and the empty groups left
        with none. Returns the number of offsets removed."""
        retention_ms = int(self.cfg("offsets.retention.minutes")) * 60_000
        removed = 0
        for group_id in list(self.groups):
            group = self.groups[group_id]
            stored = self.offsets.get(group_id, {})
            base = self._expiry_base(group)
            all_expired = True
            records: list[StoredRecord] = []
            if stored:
                if base is None:
                    all_expired = False
                else:
                    for (topic, partition), value in stored.items():
                        if group.is_subscribed_to(topic):
                            all_expired = False
                            continue
                        if value.expire_timestamp_ms is not None:
                            expired = now_ms >= value.expire_timestamp_ms
                        else:
                            expired = now_ms - base(value) >= retention_ms
                        if expired:
                            records.append(OffsetRecord(group_id, topic, partition, None))
                        else:
                            all_expired = False
            delete_group = all_expired and (group.can_expire if isinstance(group, ClassicGroup) else group.is_empty)
            if delete_group:
                records.extend(self._group_tombstones(group))
            if not records and not delete_group:
                continue
            try:
                self._append(group_id, records)
            except KafkaError as exc:
                log.warning("could not expire offsets of group %s: %s", group_id, exc)
                continue
            for r in records:
                if isinstance(r, OffsetRecord):
                    stored.pop((r.topic, r.partition), None)
                    removed += 1
            if not stored:
                self.offsets.pop(group_id, None)
            if delete_group:
                self._remove_group(group_id)
                log.info("group %s expired: it is empty and has no offsets left", group_id)
        return removed

    @staticmethod
    def _expiry_base(group: Any) -> Callable[[OffsetAndMetadata], int] | None:
        if isinstance(group, ClassicGroup):
            if group.protocol_type is None:
                return lambda v: v.commit_timestamp_ms
            if group.is_in(ClassicState.EMPTY):
                ts = group.state_timestamp_ms
                return (lambda v: ts) if ts is not None else (lambda v: v.commit_timestamp_ms)
            if (group.protocol_type == CONSUMER_PROTOCOL_TYPE and group.subscribed_topics is not None
                    and group.is_in(ClassicState.STABLE)):
                return lambda v: v.commit_timestamp_ms
            return None
        return lambda v: v.commit_timestamp_ms

    # ---------------------------------------------------------------------------------------------------------
    # operations for the rest of the broker

    def expire_member(self, group_id: str, member_id: str) -> bool:
        """Treat a member as if its session had just expired (fault injection, admin tools); False if unknown."""
        if self._ready():
            return False
        group = self.groups.get(group_id)
        if isinstance(group, ClassicGroup):
            if member_id in group.pending_members:
                self._expire_heartbeat(group_id, member_id)
                return True
            if member_id not in group.members:
                return False
            log.info("expiring member %s of group %s on request", member_id, group_id)
            self._remove_member_and_update(group, member_id, "session expired (on request)")
            return True
        if group is not None:
            return self.consumer_groups.fence(group_id, member_id, "its session was expired on request")
        return False

    def on_topics_deleted(self, topics: Iterable[str]) -> int:
        """Drop the committed offsets of deleted topics (Kafka does so when partitions are deleted); the broker
        calls this after DeleteTopics. Returns how many offsets went."""
        if self._ready():
            return 0
        gone = set(topics)
        removed = 0
        for group_id, stored in list(self.offsets.items()):
            records: list[StoredRecord] = [OffsetRecord(group_id, t, p, None) for (t, p) in stored if t in gone]
            if not records:
                continue
            try:
                self._append(group_id, records)
            except KafkaError as exc:
                log.warning("could not drop offsets of deleted topics for group %s: %s", group_id, exc)
                continue
            for r in records:
                stored.pop((r.topic, r.partition), None)  # type: ignore[union-attr]
                removed += 1
            if not stored:
                del self.offsets[group_id]
        return removed

    # ---------------------------------------------------------------------------------------------------------
    # administration

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

    def list_groups(self, states: Iterable[str] = (), types: Iterable[str] = ()) -> tuple[int, list[dict]]:
        error = self._ready()
        if error:
            return error, []
        wanted_states = {s.strip().lower() for s in states}
        wanted_types = {t.strip().lower() for t in types}
        out = []
        for group_id, group in self.groups.items():
            if wanted_states and group.state_name.lower() not in wanted_states:
                continue
            if wanted_types and group.type_name not in wanted_types:
                continue
            out.append({"group_id": group_id, "protocol_type": group.protocol_type or "",
                        "group_state": group.state_name, "group_type": group.type_name})
        return E.NONE, out

    def describe_group(self, group_id: str, version: int) -> dict:
        error, group = self._lookup(group_id)
        if error:
            return {"group_id": group_id, "error_code": error, "group_state": "", "protocol_type": "",
                    "protocol_data": "", "members": []}
        if not isinstance(group, ClassicGroup) or group.is_in(ClassicState.DEAD):
            entry = {"group_id": group_id, "error_code": 0, "group_state": ClassicState.DEAD.value,
                     "protocol_type": "", "protocol_data": "", "members": []}
            if version >= 6:
                entry["error_code"] = E.GROUP_ID_NOT_FOUND
                entry["error_message"] = (f"Group {group_id} not found." if group is None
                                          else f"Group {group_id} is not a classic group.")
            return entry
        stable = group.is_in(ClassicState.STABLE)
        members = []
        for m in group.members.values():
            members.append({"member_id": m.member_id, "group_instance_id": m.group_instance_id,
                            "client_id": m.client_id, "client_host": m.client_host,
                            "member_metadata": m.metadata(group.protocol_name) if stable else b"",
                            "member_assignment": m.assignment})
        return {"group_id": group_id, "error_code": 0, "group_state": group.state_name,
                "protocol_type": group.protocol_type or "",
                "protocol_data": (group.protocol_name or "") if stable else "", "members": members}

    def delete_groups(self, group_ids: list[str]) -> list[tuple[str, int]]:
        error = self._ready()
        if error:
            return [(g, error) for g in group_ids]
        out = []
        for group_id in group_ids:
            if not group_id:
                out.append((group_id, E.INVALID_GROUP_ID))
                continue
            group = self.groups.get(group_id)
            if group is None or (isinstance(group, ClassicGroup) and group.is_in(ClassicState.DEAD)):
                out.append((group_id, E.GROUP_ID_NOT_FOUND))
                continue
            if not group.is_empty:
                out.append((group_id, E.NON_EMPTY_GROUP))
                continue
            records: list[StoredRecord] = [OffsetRecord(group_id, t, p, None) for (t, p) in self.offsets.get(group_id, {})]
            records.extend(self._group_tombstones(group))
            try:
                self._append(group_id, records)
            except KafkaError as exc:
                out.append((group_id, exc.code))
                continue
            self.offsets.pop(group_id, None)
            self._remove_group(group_id)
            log.info("deleted group %s", group_id)
            out.append((group_id, E.NONE))
        return out

    # ---------------------------------------------------------------------------------------------------------
    # KIP-848 consumer groups live in their own module; it reaches back into this object's state

    @property
    def consumer_groups(self) -> "ConsumerGroupManager":
        manager = getattr(self, "_consumer_groups", None)
        if manager is None:
            from kbroker.coordinator.consumer import ConsumerGroupManager

            manager = self._consumer_groups = ConsumerGroupManager(self)
        return manager


class _JoinRequest:
    __slots__ = ("version", "group_id", "member_id", "group_instance_id", "session_timeout_ms",
                 "rebalance_timeout_ms", "protocol_type", "protocols", "client_id", "client_host", "reason")

    def __init__(self, version: int, group_id: str, member_id: str, group_instance_id: str | None,
                 session_timeout_ms: int, rebalance_timeout_ms: int, protocol_type: str,
                 protocols: list[tuple[str, bytes]], client_id: str, client_host: str, reason: str | None) -> None:
        self.version = version
        self.group_id = group_id
        self.member_id = member_id
        self.group_instance_id = group_instance_id
        self.session_timeout_ms = session_timeout_ms
        self.rebalance_timeout_ms = rebalance_timeout_ms
        self.protocol_type = protocol_type
        self.protocols = protocols
        self.client_id = client_id
        self.client_host = client_host
        self.reason = reason
