"""The classic group protocol's requests: JoinGroup, SyncGroup, Heartbeat and LeaveGroup.

Each request validates against the group's state and either answers at once or parks on a Waiter that a later
request or a deadline (kbroker.coordinator.classic_rebalance) completes.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from kbroker.coordinator.classic import ClassicGroup, ClassicMember, ClassicState
from kbroker.coordinator.classic_rebalance import (
    NEW_MEMBER_JOIN_TIMEOUT_MS,
    ClassicRebalance,
    hb_key,
    sync_key,
    join_response,
    sync_response,
)
from kbroker.coordinator.waiter import Waiter, completed
from wire.errors import ErrorCode

log = logging.getLogger(__name__)

E = ErrorCode


class ClassicProtocol(ClassicRebalance):
    """JoinGroup, SyncGroup, Heartbeat and LeaveGroup of classic groups."""

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
            self.timer.schedule(hb_key(group.group_id, new_id), req.session_timeout_ms,
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
        self.timer.cancel(hb_key(group.group_id, old_id))
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
                    self.timer.cancel(hb_key(group.group_id, new_id))
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
            self.timer.cancel(sync_key(group.group_id))

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
                self.timer.cancel(hb_key(group_id, member_id))
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


@dataclass(slots=True)
class _JoinRequest:
    """A JoinGroup's fields, handed between the steps of join_group."""

    version: int
    group_id: str
    member_id: str
    group_instance_id: str | None
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocol_type: str
    protocols: list[tuple[str, bytes]]
    client_id: str
    client_host: str
    reason: str | None
