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

The parts: consumer_group (the model), consumer_persistence (records, replay), consumer_membership (sessions,
fencing), consumer_assignment (target assignment, reconciliation); this module answers the requests.
"""
from __future__ import annotations

import base64
import logging
import re
import uuid
from typing import Any

from kbroker.coordinator.assignors import ASSIGNORS
from kbroker.coordinator.classic import ClassicGroup
from kbroker.coordinator.consumer_assignment import ConsumerAssignment
from kbroker.coordinator.consumer_group import (
    LEAVE_EPOCH,
    STATIC_LEAVE_EPOCH,
    Assignment,
    ConsumerGroup,
    ConsumerGroupError,
    ConsumerMember,
)
from kbroker.coordinator.records import GroupRecord
from wire.errors import ErrorCode, KafkaError

log = logging.getLogger(__name__)
E = ErrorCode


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



class ConsumerGroupManager(ConsumerAssignment):
    """The KIP-848 side of the coordinator; its state lives in the coordinator's `groups`."""

    # -- ConsumerGroupHeartbeat

    def heartbeat(self, request: Any, *, version: int, client_id: str, client_host: str) -> dict:
        error = self.c._ready()
        if error:
            return {"error_code": error, "member_epoch": 0, "heartbeat_interval_ms": 0}
        try:
            return self._heartbeat(request, version, client_id, client_host)
        except ConsumerGroupError as exc:
            return {"error_code": int(exc.code), "error_message": exc.message, "member_epoch": 0,
                    "heartbeat_interval_ms": 0}
        except KafkaError as exc:  # the change could not be stored: the member retries
            code = exc.code if exc.code != E.NOT_ENOUGH_REPLICAS else E.COORDINATOR_NOT_AVAILABLE
            return {"error_code": int(code), "error_message": exc.message, "member_epoch": 0,
                    "heartbeat_interval_ms": 0}

    def _validate(self, r: Any, version: int) -> None:
        if not r["group_id"]:
            raise ConsumerGroupError(E.INVALID_REQUEST, "GroupId can't be empty.")
        if r["instance_id"] is not None and not r["instance_id"]:
            raise ConsumerGroupError(E.INVALID_REQUEST, "InstanceId can't be empty.")
        if r["rack_id"] is not None and not r["rack_id"]:
            raise ConsumerGroupError(E.INVALID_REQUEST, "RackId can't be empty.")
        epoch = r["member_epoch"]
        if version >= 1 and not r["member_id"]:
            raise ConsumerGroupError(E.INVALID_REQUEST, "MemberId can't be empty.")
        regex = r.get("subscribed_topic_regex") if version >= 1 else None
        if epoch > 0 or epoch == LEAVE_EPOCH:
            if not r["member_id"]:
                raise ConsumerGroupError(E.INVALID_REQUEST, "MemberId can't be empty.")
        elif epoch == 0:
            if r["rebalance_timeout_ms"] == -1:
                raise ConsumerGroupError(E.INVALID_REQUEST, "RebalanceTimeoutMs must be provided in first request.")
            if r["topic_partitions"] is None or len(r["topic_partitions"]) > 0:
                raise ConsumerGroupError(E.INVALID_REQUEST, "TopicPartitions must be empty when (re-)joining.")
            if not r["subscribed_topic_names"] and not regex:
                raise ConsumerGroupError(E.INVALID_REQUEST, "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.")
        elif epoch == STATIC_LEAVE_EPOCH:
            if not r["member_id"]:
                raise ConsumerGroupError(E.INVALID_REQUEST, "MemberId can't be empty.")
            if r["instance_id"] is None:
                raise ConsumerGroupError(E.INVALID_REQUEST, "InstanceId can't be null.")
        else:
            raise ConsumerGroupError(E.INVALID_REQUEST, "MemberEpoch is invalid.")
        if regex is not None:
            try:
                re.compile(regex)
            except re.error as exc:
                raise ConsumerGroupError(E.INVALID_REGULAR_EXPRESSION, f"SubscribedTopicRegex {regex} is invalid: {exc}")
        assignor = r["server_assignor"]
        if assignor is not None and assignor not in ASSIGNORS:
            raise ConsumerGroupError(E.UNSUPPORTED_ASSIGNOR, f"ServerAssignor {assignor} is not supported. "
                                                 f"Supported assignors: {', '.join(ASSIGNORS)}.")

    def _group(self, group_id: str, create: bool) -> ConsumerGroup:
        group = self.c.groups.get(group_id)
        if isinstance(group, ConsumerGroup):
            return group
        if group is not None:
            assert isinstance(group, ClassicGroup)
            if not group.is_empty:
                raise ConsumerGroupError(E.GROUP_ID_NOT_FOUND, f"Group {group_id} is not a consumer group.")
            if not create:
                raise ConsumerGroupError(E.UNKNOWN_MEMBER_ID, f"Group {group_id} has no member.")
            # an empty classic group (offsets only) becomes a consumer group; its offsets stay
            self.c._remove_group(group_id)
            self.c._try_append(group_id, [GroupRecord(group_id, None)], "store the end of classic")
        elif not create:
            # the group is gone (e.g. the broker restarted): the member must rejoin
            raise ConsumerGroupError(E.UNKNOWN_MEMBER_ID, f"Group {group_id} not found.")
        new = ConsumerGroup(group_id)
        self.c.groups[group_id] = new
        return new

    def _check_epoch(self, member: ConsumerMember, received: int, owned: Assignment | None) -> None:
        if received > member.member_epoch:
            raise ConsumerGroupError(E.FENCED_MEMBER_EPOCH, f"The consumer group member has a greater member epoch ({received}) "
                                                f"than the one known by the group coordinator ({member.member_epoch}). "
                                                "The member must abandon all its partitions and rejoin.")
        if received < member.member_epoch:
            subset = owned is not None and all(parts <= member.assigned.get(tid, set()) for tid, parts in owned.items())
            if received != member.previous_member_epoch or not subset:
                raise ConsumerGroupError(E.FENCED_MEMBER_EPOCH, f"The consumer group member has a smaller member epoch "
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
                    raise ConsumerGroupError(E.UNKNOWN_MEMBER_ID, f"Member {member_id} is not a member of group {group_id}.")
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
                        raise ConsumerGroupError(E.UNRELEASED_INSTANCE_ID,
                                     f"Static member {member_id} with instance id {instance_id} cannot join the "
                                     f"group because the instance id is owned by {existing.member_id} member.")
                    member = self._replace_static(group, existing, member_id)
            else:
                if existing is None:
                    raise ConsumerGroupError(E.UNKNOWN_MEMBER_ID, f"Instance id {instance_id} is unknown.")
                if existing.member_id != member_id:
                    raise ConsumerGroupError(E.FENCED_INSTANCE_ID, f"Static member {member_id} with instance id {instance_id} "
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

    def _leave(self, group_id: str, member_id: str, instance_id: str | None, epoch: int) -> dict:
        group = self.c.groups.get(group_id)
        if not isinstance(group, ConsumerGroup):
            raise ConsumerGroupError(E.UNKNOWN_MEMBER_ID, f"Group {group_id} not found.")
        response = {"error_code": 0, "member_id": member_id, "member_epoch": epoch, "heartbeat_interval_ms": 0}
        if instance_id is None:
            if member_id not in group.members:
                raise ConsumerGroupError(E.UNKNOWN_MEMBER_ID, f"Member {member_id} is not a member of group {group_id}.")
            self.fence(group_id, member_id, "it left")
            return response
        static_id = group.static_members.get(instance_id)
        if static_id is None or static_id not in group.members:
            raise ConsumerGroupError(E.UNKNOWN_MEMBER_ID, f"Instance id {instance_id} is unknown.")
        if static_id != member_id:
            raise ConsumerGroupError(E.FENCED_INSTANCE_ID, f"Static member {member_id} with instance id {instance_id} was "
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


__all__ = ["ConsumerGroupManager"]
