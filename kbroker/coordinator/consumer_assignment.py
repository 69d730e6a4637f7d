"""Assignment in KIP-848 consumer groups: the group's target assignment (computed by the uniform or range
assignor when the group epoch moves on) and each member's reconciliation towards it, one heartbeat at a time
(Kafka's CurrentAssignmentBuilder: revoke first, then take partitions once their previous owner released them).
"""
from __future__ import annotations

import logging

from kbroker.coordinator.assignors import ASSIGNORS, AssignorError
from kbroker.coordinator.consumer_group import (
    Assignment,
    ConsumerGroup,
    ConsumerGroupError,
    ConsumerMember,
    MemberState,
)
from kbroker.coordinator.consumer_membership import ConsumerMembership
from wire.errors import ErrorCode

log = logging.getLogger(__name__)
E = ErrorCode


class ConsumerAssignment(ConsumerMembership):
    """Target assignment and reconciliation."""

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
            raise ConsumerGroupError(E.UNKNOWN_SERVER_ERROR, f"Failed to compute a new target assignment: {exc}")
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

