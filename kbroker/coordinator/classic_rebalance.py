"""Classic-group membership over time: rebalances (join and sync phases, the initial delay), session expiry, and
members leaving, all driven by the coordinator's timer.

The request handlers (kbroker.coordinator.classic_protocol) start these transitions; the offsets and admin parts
use the member checks and expiry here too, which is why they live apart from the requests.
"""
from __future__ import annotations

import logging
from typing import Any

from kbroker.coordinator.classic import ClassicGroup, ClassicMember, ClassicState
from kbroker.coordinator.group_state import GroupState
from wire.errors import ErrorCode

log = logging.getLogger(__name__)

E = ErrorCode
NEW_MEMBER_JOIN_TIMEOUT_MS = 5 * 60 * 1000


def hb_key(group_id: str, member_id: str) -> tuple:
    """Timer keys carry the group id second: removing a group cancels all of its deadlines at once."""
    return ("hb", group_id, member_id)


def join_key(group_id: str) -> tuple:
    return ("join", group_id)


def sync_key(group_id: str) -> tuple:
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


class ClassicRebalance(GroupState):
    """Rebalance mechanics and member expiry of classic groups."""

    def _shutdown(self) -> None:
        """Answer every parked request (the broker is going away); clients find the coordinator again."""
        for group in self.groups.values():
            if isinstance(group, ClassicGroup):
                for member in group.members.values():
                    self._answer_parked(member, E.NOT_COORDINATOR, member.member_id)

    @staticmethod
    def _answer_parked(member: ClassicMember, error: int, join_member_id: str) -> None:
        """Answer the member's parked JoinGroup and SyncGroup, if any, with error (the member or the coordinator
        is going away); join_member_id is the member id the JoinGroup answer carries."""
        if member.join_waiter is not None:
            member.join_waiter.complete(join_response(error, join_member_id))
            member.join_waiter = None
        if member.sync_waiter is not None:
            member.sync_waiter.complete(sync_response(error))
            member.sync_waiter = None

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

    def _current_join_response(self, group: ClassicGroup, member_id: str, *, include_members: bool,
                               leader: str | None = None, skip_assignment: bool = False) -> dict:
        return join_response(
            E.NONE, member_id, generation_id=group.generation_id, protocol_type=group.protocol_type,
            protocol_name=group.protocol_name, leader=(leader if leader is not None else group.leader_id) or "",
            skip_assignment=skip_assignment, members=group.join_members() if include_members else [])

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
        self.timer.cancel(sync_key(group.group_id))
        initial = group.is_in(ClassicState.EMPTY)
        gid = group.group_id
        if initial:
            delay = int(self.cfg("group.initial.rebalance.delay.ms"))
            remaining = max(group.rebalance_timeout_ms() - delay, 0)
            self.timer.schedule(join_key(gid), delay,
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
            self.timer.schedule(join_key(gid), group.rebalance_timeout_ms(), lambda: self._complete_join_by_id(gid))

    def _try_complete_initial_rebalance(self, group_id: str, delay: int, remaining: int) -> None:
        group = self._classic(group_id)
        if group is None:
            return
        if group.new_member_added and remaining != 0:
            group.new_member_added = False
            initial = int(self.cfg("group.initial.rebalance.delay.ms"))
            new_delay = min(initial, remaining)
            new_remaining = max(remaining - delay, 0)
            self.timer.schedule(join_key(group_id), new_delay,
                                lambda: self._try_complete_initial_rebalance(group_id, new_delay, new_remaining))
        else:
            self._complete_join(group)

    def _complete_join_by_id(self, group_id: str) -> None:
        group = self._classic(group_id)
        if group is not None:
            self._complete_join(group)

    def _complete_join(self, group: ClassicGroup) -> None:
        gid = group.group_id
        self.timer.cancel(join_key(gid))
        if not group.is_in(ClassicState.PREPARING_REBALANCE):
            return
        failed = [m for m in group.not_yet_rejoined() if m.group_instance_id is None]
        for member in failed:
            group.remove(member.member_id)
            self.timer.cancel(hb_key(gid, member.member_id))
        if failed:
            log.info("group %s removed dynamic members who did not rejoin: %s", gid, [m.member_id for m in failed])
        if group.members and not group.maybe_elect_new_joined_leader():
            # nobody rejoined (only static members that did not come back): wait for sessions to expire
            self.timer.schedule(join_key(gid), group.rebalance_timeout_ms(), lambda: self._complete_join_by_id(gid))
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
        self.timer.schedule(sync_key(gid), group.rebalance_timeout_ms(),
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
        self.timer.schedule(hb_key(gid, mid), member.session_timeout_ms if timeout_ms is None else timeout_ms,
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
        self.timer.cancel(hb_key(group.group_id, member_id))
        if member is not None:
            self._answer_parked(member, E.UNKNOWN_MEMBER_ID, "")
        group.remove(member_id)

    def _remove_member_and_update(self, group: ClassicGroup, member_id: str, reason: str) -> None:
        self._drop_member(group, member_id)
        if group.is_in(ClassicState.STABLE, ClassicState.COMPLETING_REBALANCE):
            self._maybe_prepare_rebalance_or_complete_join(group, reason)
        elif group.is_in(ClassicState.PREPARING_REBALANCE) and group.has_all_members_joined():
            self._complete_join(group)

