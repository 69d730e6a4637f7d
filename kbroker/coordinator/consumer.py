"""KIP-848 consumer groups: ConsumerGroupHeartbeat and ConsumerGroupDescribe, with server-side assignment.

Facts from Kafka's GroupMetadataManager, ConsumerGroup and CurrentAssignmentBuilder:
- a group has an epoch, bumped whenever a member joins, leaves or changes its subscription, or the subscribed
  topics change (partitions added, topic created); a target assignment is computed (uniform or range assignor)
  when the group epoch is ahead of the assignment epoch;
- each member reconciles towards its target one heartbeat at a time: partitions another member still owns are
  withheld (UNRELEASED_PARTITIONS) until released; partitions the member must give up are revoked first
  (UNREVOKED_PARTITIONS), with the member kept at its epoch until its heartbeat no longer lists them, within
  its rebalance timeout (else it is fenced);
- a member is fenced when its session (group.consumer.session.timeout.ms) expires; epochs it sends that are not
  its own answer FENCED_MEMBER_EPOCH, and it rejoins with epoch 0;
- static members (instance id) may leave temporarily (epoch -2) and come back with a new member id to the same
  assignment; another live member with the same instance id gets UNRELEASED_INSTANCE_ID.

Durability: after each change the group's records (Kafka's layouts: group epoch, member metadata, target
assignment, current assignment; kbroker.coordinator.records) are compared with what was last stored and only
the differences (and tombstones) are written; replay rebuilds the groups and restarts the members' sessions.
"""
from __future__ import annotations

import base64
import enum
import logging
import re
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kbroker.coordinator.assignors import ASSIGNORS, AssignorError
from kbroker.coordinator import group_configs
from kbroker.coordinator.classic import ClassicGroup, wall_ms
from kbroker.coordinator.records import (
    CG_CURRENT,
    CG_EPOCH,
    CG_MEMBER,
    CG_TARGET_EPOCH,
    CG_TARGET_MEMBER,
    ConsumerGroupRecord,
    ConsumerMemberMetadata,
    CurrentAssignment,
    GroupRecord,
    decode,
    encode_key,
    encode_value,
)
from kbroker.metadata import INTERNAL_TOPICS
from wire.errors import ErrorCode, KafkaError

if TYPE_CHECKING:
    from kbroker.coordinator.group_state import GroupState

log = logging.getLogger(__name__)
E = ErrorCode

LEAVE_EPOCH = -1
STATIC_LEAVE_EPOCH = -2

Assignment = dict[bytes, set[int]]


class MemberState(enum.Enum):
    # values: Kafka's MemberState bytes, as stored
    STABLE = 0
    UNREVOKED_PARTITIONS = 1
    UNRELEASED_PARTITIONS = 2


@dataclass
class ConsumerMember:
    member_id: str
    instance_id: str | None = None
    rack_id: str | None = None
    client_id: str = ""
    client_host: str = ""
    member_epoch: int = 0
    previous_member_epoch: int = 0
    state: MemberState = MemberState.STABLE
    rebalance_timeout_ms: int = -1
    subscribed_topic_names: list[str] = field(default_factory=list)
    subscribed_topic_regex: str | None = None
    server_assignor: str | None = None
    assigned: Assignment = field(default_factory=dict)
    pending_revocation: Assignment = field(default_factory=dict)

    def is_reconciled_to(self, epoch: int) -> bool:
        return self.state is MemberState.STABLE and self.member_epoch == epoch

    def update_epoch(self, epoch: int) -> None:
        self.previous_member_epoch = self.member_epoch
        self.member_epoch = epoch


@dataclass
class ConsumerGroup:
    group_id: str
    group_epoch: int = 0
    assignment_epoch: int = 0
    members: dict[str, ConsumerMember] = field(default_factory=dict)
    static_members: dict[str, str] = field(default_factory=dict)
    target: dict[str, Assignment] = field(default_factory=dict)
    subscription_metadata: dict[bytes, tuple[str, int]] = field(default_factory=dict)
    partition_epochs: dict[tuple[bytes, int], int] = field(default_factory=dict)
    state_timestamp_ms: int | None = None

    type_name = "consumer"
    protocol_type = "consumer"

    @property
    def is_empty(self) -> bool:
        return not self.members

    @property
    def state_name(self) -> str:
        if not self.members:
            return "Empty"
        if self.group_epoch > self.assignment_epoch:
            return "Assigning"
        if any(not m.is_reconciled_to(self.assignment_epoch) for m in self.members.values()):
            return "Reconciling"
        return "Stable"

    def subscribed_topic_names(self) -> set[str]:
        return {name for name, _ in self.subscription_metadata.values()}

    def is_subscribed_to(self, topic: str) -> bool:
        return topic in self.subscribed_topic_names()

    def rebuild_partition_epochs(self) -> None:
        epochs: dict[tuple[bytes, int], int] = {}
        for member in self.members.values():
            for assignment in (member.assigned, member.pending_revocation):
                for tid, parts in assignment.items():
                    for p in parts:
                        epochs[(tid, p)] = member.member_epoch
        self.partition_epochs = epochs

    def current_partition_epoch(self, tid: bytes, partition: int) -> int:
        return self.partition_epochs.get((tid, partition), -1)


def _new_member_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _as_assignment(topic_partitions: Any) -> Assignment | None:
    if topic_partitions is None:
        return None
    out: Assignment = {}
    for tp in topic_partitions:
        if tp["partitions"]:
            out.setdefault(bytes(tp["topic_id"]), set()).update(tp["partitions"])
    return out


def _response_assignment(assignment: Assignment) -> dict:
    return {"topic_partitions": [{"topic_id": tid, "partitions": sorted(parts)}
                                 for tid, parts in sorted(assignment.items()) if parts]}


class _Error(Exception):
    def __init__(self, code: int, message: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ConsumerGroupManager:
    """The KIP-848 side of the coordinator; its state lives in the coordinator's `groups`."""

    def __init__(self, coordinator: "GroupState") -> None:
        self.c = coordinator
        self._stored: dict[str, dict[bytes, bytes]] = {}  # group -> record key -> value as last stored

    # -- durability

    @staticmethod
    def _records(group: ConsumerGroup) -> list[ConsumerGroupRecord]:
        gid = group.group_id
        out = [ConsumerGroupRecord(CG_EPOCH, gid, "", group.group_epoch)]
        for m in group.members.values():
            out.append(ConsumerGroupRecord(CG_MEMBER, gid, m.member_id, ConsumerMemberMetadata(
                m.instance_id, m.rack_id, m.client_id, m.client_host, list(m.subscribed_topic_names),
                m.subscribed_topic_regex, m.rebalance_timeout_ms, m.server_assignor)))
        out.append(ConsumerGroupRecord(CG_TARGET_EPOCH, gid, "", group.assignment_epoch))
        for member_id, target in group.target.items():
            out.append(ConsumerGroupRecord(CG_TARGET_MEMBER, gid, member_id, target))
        for m in group.members.values():
            out.append(ConsumerGroupRecord(CG_CURRENT, gid, m.member_id, CurrentAssignment(
                m.member_epoch, m.previous_member_epoch, m.state.value, m.assigned, m.pending_revocation)))
        return out

    def persist(self, group: ConsumerGroup) -> None:
        """Store what changed in the group since it was last stored. KafkaError if that fails."""
        stored = self._stored.get(group.group_id, {})
        current: dict[bytes, tuple[ConsumerGroupRecord, bytes]] = {}
        for record in self._records(group):
            current[encode_key(record)] = (record, encode_value(record) or b"")
        changes: list = [r for k, (r, v) in current.items() if stored.get(k) != v]
        for key in stored:
            if key not in current:
                changes.append(decode(key, None))  # a tombstone
        if not changes:
            return
        # tombstones of members' records before the others (Kafka's order: assignments, then metadata)
        changes.sort(key=lambda r: 0 if r.value is None and r.kind == CG_CURRENT else 1)
        self.c._append(group.group_id, changes)
        self._stored[group.group_id] = {k: v for k, (_, v) in current.items()}

    def _persist_quietly(self, group: ConsumerGroup) -> None:
        try:
            self.persist(group)
        except KafkaError as exc:
            log.warning("could not store consumer group %s: %s", group.group_id, exc)

    def tombstones(self, group_id: str) -> list:
        """Records deleting everything stored of the group (DeleteGroups, expiry)."""
        stored = self._stored.get(group_id, {})
        records = [decode(k, None) for k in stored]
        records.sort(key=lambda r: {CG_CURRENT: 0, CG_TARGET_MEMBER: 1, CG_TARGET_EPOCH: 2, CG_MEMBER: 3}.get(r.kind, 4))
        return records

    def forget(self, group_id: str) -> None:
        self._stored.pop(group_id, None)

    def replay(self, record: ConsumerGroupRecord) -> None:
        gid = record.group_id
        group = self.c.groups.get(gid)
        key = encode_key(record)
        stored = self._stored.setdefault(gid, {})
        if record.value is None:
            stored.pop(key, None)
        else:
            stored[key] = encode_value(record) or b""
        if not isinstance(group, ConsumerGroup):
            if record.value is None:
                return
            group = ConsumerGroup(gid)
            self.c.groups[gid] = group
        value = record.value
        if record.kind == CG_EPOCH:
            if value is None:
                del self.c.groups[gid]
                self._stored.pop(gid, None)
                if gid in self.c.offsets:
                    self.c.groups[gid] = ClassicGroup(gid)
            else:
                group.group_epoch = int(value)  # type: ignore[call-overload]
        elif record.kind == CG_TARGET_EPOCH:
            group.assignment_epoch = int(value) if value is not None else 0  # type: ignore[call-overload]
        elif record.kind == CG_TARGET_MEMBER:
            if value is None:
                group.target.pop(record.member_id, None)
            else:
                group.target[record.member_id] = value  # type: ignore[assignment]
        elif record.kind == CG_MEMBER:
            if value is None:
                member = group.members.pop(record.member_id, None)
                if member is not None and member.instance_id is not None:
                    group.static_members.pop(member.instance_id, None)
                return
            assert isinstance(value, ConsumerMemberMetadata)
            member = group.members.setdefault(record.member_id, ConsumerMember(record.member_id))
            member.instance_id, member.rack_id = value.instance_id, value.rack_id
            member.client_id, member.client_host = value.client_id, value.client_host
            member.subscribed_topic_names = list(value.subscribed_topic_names)
            member.subscribed_topic_regex = value.subscribed_topic_regex
            member.rebalance_timeout_ms, member.server_assignor = value.rebalance_timeout_ms, value.server_assignor
            if member.instance_id is not None:
                group.static_members[member.instance_id] = member.member_id
        elif record.kind == CG_CURRENT:
            if value is None:
                return
            assert isinstance(value, CurrentAssignment)
            member = group.members.setdefault(record.member_id, ConsumerMember(record.member_id))
            member.member_epoch, member.previous_member_epoch = value.member_epoch, value.previous_member_epoch
            try:
                member.state = MemberState(value.state)
            except ValueError:
                member.state = MemberState.STABLE
            member.assigned = {t: set(p) for t, p in value.assigned.items()}
            member.pending_revocation = {t: set(p) for t, p in value.pending_revocation.items()}

    def on_loaded(self) -> None:
        """After replay: derived state, and every member's session (and revocation deadline) from now."""
        for group in list(self.c.groups.values()):
            if not isinstance(group, ConsumerGroup):
                continue
            group.rebuild_partition_epochs()
            group.subscription_metadata = self._subscription_metadata(group)
            for member in group.members.values():
                self._schedule_session(group.group_id, member.member_id)
                if member.state is MemberState.UNREVOKED_PARTITIONS:
                    gid, mid, epoch = group.group_id, member.member_id, member.member_epoch
                    timeout = member.rebalance_timeout_ms if member.rebalance_timeout_ms > 0 else 300000
                    self.c.timer.schedule(self._rebalance_key(gid, mid), timeout,
                                          lambda gid=gid, mid=mid, epoch=epoch: self._rebalance_timeout(gid, mid, epoch))

    def _check_capacity(self, group: ConsumerGroup) -> None:
        """group.consumer.max.size: a new member of a full group is refused (Kafka's throwIfConsumerGroupIsFull)."""
        limit = int(self.c.cfg("group.consumer.max.size"))
        if len(group.members) >= limit:
            raise _Error(E.GROUP_MAX_SIZE_REACHED,
                         f"The consumer group has reached its maximum capacity of {limit} members.")

    def _schedule_session(self, group_id: str, member_id: str) -> None:
        self.c.timer.schedule(self._session_key(group_id, member_id),
                              self._session_timeout_ms(group_id),
                              lambda: self.fence(group_id, member_id, "its session expired"))

    def drop_empty(self, group_id: str) -> None:
        """An empty consumer group gives way to a classic group of the same id (offsets stay)."""
        try:
            self.c._append(group_id, self.tombstones(group_id))
        except KafkaError as exc:
            log.warning("could not store the end of consumer group %s: %s", group_id, exc)
        self._stored.pop(group_id, None)
        self.c.groups.pop(group_id, None)

    # -- helpers

    def _topics(self) -> dict[str, tuple[bytes, int]]:
        broker = self.c.broker
        if broker is None:
            return {}
        return {info.name: (info.topic_id, info.partitions) for info in broker.metadata.topics.values()}

    def _topic_names_by_id(self) -> dict[bytes, str]:
        return {tid: name for name, (tid, _) in self._topics().items()}

    def _resolve(self, member: ConsumerMember, topics: dict[str, tuple[bytes, int]]) -> set[str]:
        names = set(member.subscribed_topic_names or [])
        if member.subscribed_topic_regex:
            try:
                pattern = re.compile(member.subscribed_topic_regex)
            except re.error:
                pattern = None
            if pattern is not None:
                names.update(n for n in topics if n not in INTERNAL_TOPICS and pattern.fullmatch(n))
        return names

    def _subscription_metadata(self, group: ConsumerGroup) -> dict[bytes, tuple[str, int]]:
        topics = self._topics()
        out: dict[bytes, tuple[str, int]] = {}
        for member in group.members.values():
            for name in self._resolve(member, topics):
                if name in topics:
                    tid, count = topics[name]
                    out[tid] = (name, count)
        return out

    def _session_key(self, group_id: str, member_id: str) -> tuple:
        return ("cg-session", group_id, member_id)

    def _rebalance_key(self, group_id: str, member_id: str) -> tuple:
        return ("cg-rebalance", group_id, member_id)

    def _assignor_name(self, group: ConsumerGroup) -> str:
        """The assignor most members ask for, else the first of group.consumer.assignors."""
        preferred = [m.server_assignor for m in group.members.values() if m.server_assignor]
        if preferred:
            return max(sorted(set(preferred)), key=preferred.count)
        configured = self.c.cfg("group.consumer.assignors")
        names = configured if isinstance(configured, list) else str(configured).split(",")
        for name in names:
            short = name.strip().rsplit(".", 1)[-1].lower().removesuffix("assignor")
            if short in ASSIGNORS:
                return short
        return "uniform"

    def heartbeat_interval_ms(self, group_id: str | None = None) -> int:
        """The group's consumer.heartbeat.interval.ms config, else the broker's default."""
        broker = self.c.broker
        if group_id is not None and broker is not None and getattr(broker, "metadata", None) is not None:
            return group_configs.int_value(broker, group_id, "consumer.heartbeat.interval.ms")
        return int(self.c.cfg("group.consumer.heartbeat.interval.ms"))

    def _session_timeout_ms(self, group_id: str) -> int:
        """The group's consumer.session.timeout.ms config, else the broker's default."""
        broker = self.c.broker
        if broker is not None and getattr(broker, "metadata", None) is not None:
            return group_configs.int_value(broker, group_id, "consumer.session.timeout.ms")
        return int(self.c.cfg("group.consumer.session.timeout.ms"))

    # -- ConsumerGroupHeartbeat

    def heartbeat(self, request: Any, *, version: int, client_id: str, client_host: str) -> dict:
        error = self.c._ready()
        if error:
            return {"error_code": error, "member_epoch": 0, "heartbeat_interval_ms": 0}
        try:
            return self._heartbeat(request, version, client_id, client_host)
        except _Error as exc:
            return {"error_code": int(exc.code), "error_message": exc.message, "member_epoch": 0,
                    "heartbeat_interval_ms": 0}
        except KafkaError as exc:  # the change could not be stored: the member retries
            code = exc.code if exc.code != E.NOT_ENOUGH_REPLICAS else E.COORDINATOR_NOT_AVAILABLE
            return {"error_code": int(code), "error_message": exc.message, "member_epoch": 0,
                    "heartbeat_interval_ms": 0}

    def _validate(self, r: Any, version: int) -> None:
        if not r["group_id"]:
            raise _Error(E.INVALID_REQUEST, "GroupId can't be empty.")
        if r["instance_id"] is not None and not r["instance_id"]:
            raise _Error(E.INVALID_REQUEST, "InstanceId can't be empty.")
        if r["rack_id"] is not None and not r["rack_id"]:
            raise _Error(E.INVALID_REQUEST, "RackId can't be empty.")
        epoch = r["member_epoch"]
        if version >= 1 and not r["member_id"]:
            raise _Error(E.INVALID_REQUEST, "MemberId can't be empty.")
        regex = r.get("subscribed_topic_regex") if version >= 1 else None
        if epoch > 0 or epoch == LEAVE_EPOCH:
            if not r["member_id"]:
                raise _Error(E.INVALID_REQUEST, "MemberId can't be empty.")
        elif epoch == 0:
            if r["rebalance_timeout_ms"] == -1:
                raise _Error(E.INVALID_REQUEST, "RebalanceTimeoutMs must be provided in first request.")
            if r["topic_partitions"] is None or len(r["topic_partitions"]) > 0:
                raise _Error(E.INVALID_REQUEST, "TopicPartitions must be empty when (re-)joining.")
            if not r["subscribed_topic_names"] and not regex:
                raise _Error(E.INVALID_REQUEST, "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.")
        elif epoch == STATIC_LEAVE_EPOCH:
            if not r["member_id"]:
                raise _Error(E.INVALID_REQUEST, "MemberId can't be empty.")
            if r["instance_id"] is None:
                raise _Error(E.INVALID_REQUEST, "InstanceId can't be null.")
        else:
            raise _Error(E.INVALID_REQUEST, "MemberEpoch is invalid.")
        if regex is not None:
            try:
                re.compile(regex)
            except re.error as exc:
                raise _Error(E.INVALID_REGULAR_EXPRESSION, f"SubscribedTopicRegex {regex} is invalid: {exc}")
        assignor = r["server_assignor"]
        if assignor is not None and assignor not in ASSIGNORS:
            raise _Error(E.UNSUPPORTED_ASSIGNOR, f"ServerAssignor {assignor} is not supported. "
                                                 f"Supported assignors: {', '.join(ASSIGNORS)}.")

    def _group(self, group_id: str, create: bool) -> ConsumerGroup:
        group = self.c.groups.get(group_id)
        if isinstance(group, ConsumerGroup):
            return group
        if group is not None:
            assert isinstance(group, ClassicGroup)
            if not group.is_empty:
                raise _Error(E.GROUP_ID_NOT_FOUND, f"Group {group_id} is not a consumer group.")
            if not create:
                raise _Error(E.UNKNOWN_MEMBER_ID, f"Group {group_id} has no member.")
            # an empty classic group (offsets only) becomes a consumer group; its offsets stay
            self.c._remove_group(group_id)
            try:
                self.c._append(group_id, [GroupRecord(group_id, None)])
            except KafkaError as exc:
                log.warning("could not store the end of classic group %s: %s", group_id, exc)
        elif not create:
            # the group is gone (e.g. the broker restarted): the member must rejoin
            raise _Error(E.UNKNOWN_MEMBER_ID, f"Group {group_id} not found.")
        new = ConsumerGroup(group_id)
        self.c.groups[group_id] = new
        return new

    def _check_epoch(self, member: ConsumerMember, received: int, owned: Assignment | None) -> None:
        if received > member.member_epoch:
            raise _Error(E.FENCED_MEMBER_EPOCH, f"The consumer group member has a greater member epoch ({received}) "
                                                f"than the one known by the group coordinator ({member.member_epoch}). "
                                                "The member must abandon all its partitions and rejoin.")
        if received < member.member_epoch:
            subset = owned is not None and all(parts <= member.assigned.get(tid, set()) for tid, parts in owned.items())
            if received != member.previous_member_epoch or not subset:
                raise _Error(E.FENCED_MEMBER_EPOCH, f"The consumer group member has a smaller member epoch "
                                                    f"({received}) than the one known by the group coordinator "
                                                    f"({member.member_epoch}). The member must abandon all its "
                                                    "partitions and rejoin.")

    def _heartbeat(self, r: Any, version: int, client_id: str, client_host: str) -> dict:
        self._validate(r, version)
        group_id, member_id, epoch = r["group_id"], r["member_id"], r["member_epoch"]
        instance_id = r["instance_id"]
        owned = _as_assignment(r["topic_partitions"])
        if epoch in (LEAVE_EPOCH, STATIC_LEAVE_EPOCH):
            return self._leave(group_id, member_id, instance_id, epoch)
        joining = epoch == 0
        group = self._group(group_id, joining)
        if not member_id:
            member_id = _new_member_id()
        bump = False
        if instance_id is None:
            member = group.members.get(member_id)
            if member is None:
                if not joining:
                    raise _Error(E.UNKNOWN_MEMBER_ID, f"Member {member_id} is not a member of group {group_id}.")
                self._check_capacity(group)
                member = ConsumerMember(member_id)
                bump = True
                log.info("member %s joins consumer group %s", member_id, group_id)
            elif joining:
                self._reset(group, member)  # a known member rejoining from scratch
            else:
                self._check_epoch(member, epoch, owned)
        else:
            static_id = group.static_members.get(instance_id)
            existing = group.members.get(static_id) if static_id is not None else None
            if joining:
                if existing is None:
                    self._check_capacity(group)
                    member = ConsumerMember(member_id, instance_id=instance_id)
                    bump = True
                elif existing.member_id == member_id:
                    member = existing
                    self._reset(group, member)
                else:
                    if existing.member_epoch != STATIC_LEAVE_EPOCH:
                        raise _Error(E.UNRELEASED_INSTANCE_ID,
                                     f"Static member {member_id} with instance id {instance_id} cannot join the "
                                     f"group because the instance id is owned by {existing.member_id} member.")
                    member = self._replace_static(group, existing, member_id)
            else:
                if existing is None:
                    raise _Error(E.UNKNOWN_MEMBER_ID, f"Instance id {instance_id} is unknown.")
                if existing.member_id != member_id:
                    raise _Error(E.FENCED_INSTANCE_ID, f"Static member {member_id} with instance id {instance_id} "
                                                       f"was fenced by member {existing.member_id}.")
                member = existing
                self._check_epoch(member, epoch, owned)
        old_assigned = {tid: set(parts) for tid, parts in member.assigned.items()}
        # 1. the member's new subscription
        if instance_id is not None:
            member.instance_id = instance_id
        if r["rack_id"] is not None:
            member.rack_id = r["rack_id"]
        if r["rebalance_timeout_ms"] != -1:
            member.rebalance_timeout_ms = r["rebalance_timeout_ms"]
        if r["server_assignor"] is not None:
            member.server_assignor = r["server_assignor"]
        names = r["subscribed_topic_names"]
        if names is not None and sorted(names) != sorted(member.subscribed_topic_names):
            member.subscribed_topic_names = list(names)
            bump = True
        regex = r.get("subscribed_topic_regex") if version >= 1 else None
        if regex is not None and regex != (member.subscribed_topic_regex or ""):
            member.subscribed_topic_regex = regex or None
            bump = True
        member.client_id = client_id
        member.client_host = client_host
        group.members[member.member_id] = member
        if member.instance_id is not None:
            group.static_members[member.instance_id] = member.member_id
        metadata = self._subscription_metadata(group)
        if metadata != group.subscription_metadata:
            group.subscription_metadata = metadata
            bump = True
        if bump:
            group.group_epoch += 1
            log.info("consumer group %s: epoch %d", group_id, group.group_epoch)
        # 2. a new target assignment when the group epoch moved on
        if group.group_epoch > group.assignment_epoch:
            self._compute_target(group, member)
        # 3. the member one step closer to its target
        self._reconcile(group, member, owned)
        self._schedule_session(group_id, member.member_id)
        self.persist(group)
        response = {"error_code": 0, "member_id": member.member_id, "member_epoch": member.member_epoch,
                    "heartbeat_interval_ms": self.heartbeat_interval_ms(group_id), "assignment": None}
        full = joining or (r["rebalance_timeout_ms"] != -1 and names is not None and owned is not None)
        if full or member.assigned != old_assigned:
            response["assignment"] = _response_assignment(member.assigned)
        return response

    def _reset(self, group: ConsumerGroup, member: ConsumerMember) -> None:
        member.member_epoch = member.previous_member_epoch = 0
        member.state = MemberState.STABLE
        member.assigned = {}
        member.pending_revocation = {}
        group.rebuild_partition_epochs()
        self.c.timer.cancel(self._rebalance_key(group.group_id, member.member_id))

    def _replace_static(self, group: ConsumerGroup, old: ConsumerMember, new_id: str) -> ConsumerMember:
        del group.members[old.member_id]
        self.c.timer.cancel(self._session_key(group.group_id, old.member_id))
        self.c.timer.cancel(self._rebalance_key(group.group_id, old.member_id))
        target = group.target.pop(old.member_id, None)
        member = ConsumerMember(
            new_id, instance_id=old.instance_id, rack_id=old.rack_id, client_id=old.client_id,
            client_host=old.client_host, member_epoch=0, previous_member_epoch=0, state=MemberState.STABLE,
            rebalance_timeout_ms=old.rebalance_timeout_ms, subscribed_topic_names=list(old.subscribed_topic_names),
            subscribed_topic_regex=old.subscribed_topic_regex, server_assignor=old.server_assignor,
            assigned={tid: set(p) for tid, p in old.assigned.items()})
        if target is not None:
            group.target[new_id] = target
        group.members[new_id] = member
        group.static_members[old.instance_id or ""] = new_id
        group.rebuild_partition_epochs()
        log.info("static member %s of consumer group %s rejoins as %s", old.instance_id, group.group_id, new_id)
        return member

    def _compute_target(self, group: ConsumerGroup, member: ConsumerMember) -> None:
        name = self._assignor_name(group)
        assignor = ASSIGNORS.get(name, ASSIGNORS["uniform"])
        topics = self._topics()
        ids = {name: tid for name, (tid, _) in topics.items()}
        subscriptions = {m.member_id: {ids[n] for n in self._resolve(m, topics) if n in ids}
                         for m in group.members.values()}
        counts = dict((tid, count) for tid, (_, count) in group.subscription_metadata.items())
        try:
            group.target = assignor(subscriptions, counts, group.target)
        except AssignorError as exc:
            raise _Error(E.UNKNOWN_SERVER_ERROR, f"Failed to compute a new target assignment: {exc}")
        group.assignment_epoch = group.group_epoch
        log.info("consumer group %s: target assignment for epoch %d with the %s assignor", group.group_id,
                 group.group_epoch, name)

    def _reconcile(self, group: ConsumerGroup, member: ConsumerMember, owned: Assignment | None) -> None:
        target_epoch = group.assignment_epoch
        if member.is_reconciled_to(target_epoch):
            return
        target = group.target.get(member.member_id, {})
        before = (member.state, member.member_epoch)

        def owns_revoked(pending: Assignment) -> bool:
            if owned is None:
                return True
            return any(p in pending.get(tid, ()) for tid, parts in owned.items() for p in parts)

        if member.state is MemberState.UNREVOKED_PARTITIONS:
            if owns_revoked(member.pending_revocation):
                return
            self._next_assignment(group, member, member.member_epoch + 1, target, target_epoch, owns_revoked)
        else:
            self._next_assignment(group, member, member.member_epoch, target, target_epoch, owns_revoked)
        group.rebuild_partition_epochs()
        key = self._rebalance_key(group.group_id, member.member_id)
        if member.state is MemberState.UNREVOKED_PARTITIONS:
            if before != (member.state, member.member_epoch) or not self.c.timer.is_scheduled(key):
                gid, mid, epoch = group.group_id, member.member_id, member.member_epoch
                timeout = member.rebalance_timeout_ms if member.rebalance_timeout_ms > 0 else 300000
                self.c.timer.schedule(key, timeout, lambda: self._rebalance_timeout(gid, mid, epoch))
        else:
            self.c.timer.cancel(key)

    def _next_assignment(self, group: ConsumerGroup, member: ConsumerMember, epoch: int, target: Assignment,
                         target_epoch: int, owns_revoked) -> None:  # type: ignore[no-untyped-def]
        assigned: Assignment = {}
        revoking: Assignment = {}
        pending: Assignment = {}
        unreleased = False
        for tid in set(target) | set(member.assigned):
            want = target.get(tid, set())
            have = member.assigned.get(tid, set())
            keep = have & want
            if keep:
                assigned[tid] = set(keep)
            if have - keep:
                revoking[tid] = have - keep
            todo = want - keep
            free = {p for p in todo if group.current_partition_epoch(tid, p) == -1}
            if len(free) != len(todo):
                unreleased = True
            if free:
                pending[tid] = free
        if revoking and owns_revoked(revoking):
            member.state = MemberState.UNREVOKED_PARTITIONS
            member.update_epoch(epoch)
            member.assigned = assigned
            member.pending_revocation = revoking
            return
        for tid, parts in pending.items():
            assigned.setdefault(tid, set()).update(parts)
        member.state = MemberState.UNRELEASED_PARTITIONS if unreleased else MemberState.STABLE
        member.update_epoch(target_epoch)
        member.assigned = assigned
        member.pending_revocation = {}

    def _rebalance_timeout(self, group_id: str, member_id: str, epoch: int) -> None:
        group = self.c.groups.get(group_id)
        if not isinstance(group, ConsumerGroup):
            return
        member = group.members.get(member_id)
        if member is not None and member.member_epoch == epoch and member.state is MemberState.UNREVOKED_PARTITIONS:
            self.fence(group_id, member_id, f"it did not revoke its partitions within {member.rebalance_timeout_ms}ms")

    def _leave(self, group_id: str, member_id: str, instance_id: str | None, epoch: int) -> dict:
        group = self.c.groups.get(group_id)
        if not isinstance(group, ConsumerGroup):
            raise _Error(E.UNKNOWN_MEMBER_ID, f"Group {group_id} not found.")
        response = {"error_code": 0, "member_id": member_id, "member_epoch": epoch, "heartbeat_interval_ms": 0}
        if instance_id is None:
            if member_id not in group.members:
                raise _Error(E.UNKNOWN_MEMBER_ID, f"Member {member_id} is not a member of group {group_id}.")
            self.fence(group_id, member_id, "it left")
            return response
        static_id = group.static_members.get(instance_id)
        if static_id is None or static_id not in group.members:
            raise _Error(E.UNKNOWN_MEMBER_ID, f"Instance id {instance_id} is unknown.")
        if static_id != member_id:
            raise _Error(E.FENCED_INSTANCE_ID, f"Static member {member_id} with instance id {instance_id} was "
                                               f"fenced by member {static_id}.")
        if epoch == STATIC_LEAVE_EPOCH:
            # a temporary leave: the assignment is kept for the instance until its session expires
            member = group.members[static_id]
            member.member_epoch = STATIC_LEAVE_EPOCH
            member.pending_revocation = {}
            group.rebuild_partition_epochs()
            self.c.timer.cancel(self._rebalance_key(group_id, static_id))
            log.info("static member %s (%s) of consumer group %s left temporarily", static_id, instance_id, group_id)
            self.persist(group)
            return response
        self.fence(group_id, static_id, "it left")
        return response

    def fence(self, group_id: str, member_id: str, reason: str) -> bool:
        group = self.c.groups.get(group_id)
        if not isinstance(group, ConsumerGroup):
            return False
        member = group.members.pop(member_id, None)
        if member is None:
            return False
        if member.instance_id is not None and group.static_members.get(member.instance_id) == member_id:
            del group.static_members[member.instance_id]
        group.target.pop(member_id, None)
        group.rebuild_partition_epochs()
        group.subscription_metadata = self._subscription_metadata(group)
        group.group_epoch += 1
        self.c.timer.cancel(self._session_key(group_id, member_id))
        self.c.timer.cancel(self._rebalance_key(group_id, member_id))
        if not group.members:
            group.state_timestamp_ms = wall_ms()
        log.info("member %s fenced from consumer group %s because %s; epoch %d", member_id, group_id, reason,
                 group.group_epoch)
        self._persist_quietly(group)
        return True

    # -- ConsumerGroupDescribe

    def describe(self, group_id: str) -> dict:
        error = self.c._ready()
        if error:
            return {"group_id": group_id, "error_code": error}
        group = self.c.groups.get(group_id)
        if not isinstance(group, ConsumerGroup):
            return {"group_id": group_id, "error_code": E.GROUP_ID_NOT_FOUND,
                    "error_message": f"Group {group_id} not found." if group is None
                    else f"Group {group_id} is not a consumer group."}
        names = self._topic_names_by_id()

        def described(assignment: Assignment) -> dict:
            return {"topic_partitions": [
                {"topic_id": tid, "topic_name": names.get(tid, ""), "partitions": sorted(parts)}
                for tid, parts in sorted(assignment.items()) if parts]}

        assignor = self._assignor_name(group)
        members = []
        for m in group.members.values():
            members.append({
                "member_id": m.member_id, "instance_id": m.instance_id, "rack_id": m.rack_id,
                "member_epoch": m.member_epoch, "client_id": m.client_id, "client_host": m.client_host,
                "subscribed_topic_names": list(m.subscribed_topic_names),
                "subscribed_topic_regex": m.subscribed_topic_regex,
                "assignment": described(m.assigned), "target_assignment": described(group.target.get(m.member_id, {})),
                "member_type": 1,
            })
        return {"group_id": group_id, "error_code": 0, "group_state": group.state_name,
                "group_epoch": group.group_epoch, "assignment_epoch": group.assignment_epoch,
                "assignor_name": assignor, "members": members}

    # -- the classic APIs meeting a consumer group

    def classic_heartbeat(self, group: ConsumerGroup, member_id: str, instance_id: str | None, generation: int) -> int:
        return E.UNKNOWN_MEMBER_ID  # members using the classic protocol are not mixed into consumer groups here

    def classic_leave(self, group: ConsumerGroup, members: list[tuple[str, str | None, str | None]]) -> tuple[int, list[dict]]:
        results = []
        for member_id, instance_id, _reason in members:
            code = E.NONE
            if instance_id is None:
                code = E.UNKNOWN_MEMBER_ID
            else:
                static_id = group.static_members.get(instance_id)
                if static_id is None:
                    code = E.UNKNOWN_MEMBER_ID
                elif member_id and member_id != static_id:
                    code = E.FENCED_INSTANCE_ID
                else:
                    self.fence(group.group_id, static_id, "an admin removed it")
                    member_id = member_id or static_id
            results.append({"member_id": member_id, "group_instance_id": instance_id, "error_code": int(code)})
        return E.NONE, results

    def validate_commit(self, group: ConsumerGroup, member_id: str, instance_id: str | None, epoch: int,
                        version: int) -> int:
        if epoch < 0 and not group.members:
            return E.NONE
        member = group.members.get(member_id)
        if member is None:
            return E.UNKNOWN_MEMBER_ID
        if version < 9:
            return E.UNSUPPORTED_VERSION
        if epoch != member.member_epoch:
            return E.STALE_MEMBER_EPOCH
        return E.NONE

    def validate_fetch(self, group: ConsumerGroup, member_id: str | None, epoch: int) -> int:
        if member_id is None and epoch < 0:
            return E.NONE
        member = group.members.get(member_id or "")
        if member is None:
            return E.UNKNOWN_MEMBER_ID
        if epoch != member.member_epoch:
            return E.STALE_MEMBER_EPOCH
        return E.NONE


__all__ = ["ConsumerGroup", "ConsumerGroupManager", "ConsumerMember", "MemberState"]
