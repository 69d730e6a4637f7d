"""Durability of KIP-848 consumer groups: each change is stored as the difference between the group's records
(Kafka's layouts: group epoch, member metadata, target assignment, current assignment) and what was last
stored, and replay rebuilds the groups from those records.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from kbroker.coordinator.classic import ClassicGroup
from kbroker.coordinator.consumer_group import ConsumerGroup, ConsumerMember, MemberState
from kbroker.coordinator.records import (
    CG_CURRENT,
    CG_EPOCH,
    CG_MEMBER,
    CG_TARGET_EPOCH,
    CG_TARGET_MEMBER,
    ConsumerGroupRecord,
    ConsumerMemberMetadata,
    CurrentAssignment,
    decode,
    encode_key,
    encode_value,
)
from wire.errors import KafkaError

if TYPE_CHECKING:
    from kbroker.coordinator.group_state import GroupState

log = logging.getLogger(__name__)


class ConsumerGroupPersistence:
    """The consumer groups' records, as last stored; the groups themselves live in the coordinator's `groups`."""

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

    def drop_empty(self, group_id: str) -> None:
        """An empty consumer group gives way to a classic group of the same id (offsets stay)."""
        self.c._try_append(group_id, self.tombstones(group_id), "store the end of consumer")
        self._stored.pop(group_id, None)
        self.c.groups.pop(group_id, None)

