"""Membership of KIP-848 consumer groups over time: sessions, rebalance (revocation) deadlines, fencing, resetting
and replacing members, and the topics a group's subscriptions resolve to. The heartbeat and the assignment
logic both build on these.
"""
from __future__ import annotations

import logging
import re

from kbroker.coordinator import group_configs
from kbroker.coordinator.classic import wall_ms
from kbroker.coordinator.consumer_group import ConsumerGroup, ConsumerGroupError, ConsumerMember, MemberState
from kbroker.coordinator.consumer_persistence import ConsumerGroupPersistence
from kbroker.metadata import INTERNAL_TOPICS
from wire.errors import ErrorCode

log = logging.getLogger(__name__)
E = ErrorCode


class ConsumerMembership(ConsumerGroupPersistence):
    """Sessions, deadlines and fencing of consumer group members."""

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
            raise ConsumerGroupError(E.GROUP_MAX_SIZE_REACHED,
                         f"The consumer group has reached its maximum capacity of {limit} members.")

    def _schedule_session(self, group_id: str, member_id: str) -> None:
        self.c.timer.schedule(self._session_key(group_id, member_id),
                              self._session_timeout_ms(group_id),
                              lambda: self.fence(group_id, member_id, "its session expired"))

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

    def _rebalance_timeout(self, group_id: str, member_id: str, epoch: int) -> None:
        group = self.c.groups.get(group_id)
        if not isinstance(group, ConsumerGroup):
            return
        member = group.members.get(member_id)
        if member is not None and member.member_epoch == epoch and member.state is MemberState.UNREVOKED_PARTITIONS:
            self.fence(group_id, member_id, f"it did not revoke its partitions within {member.rebalance_timeout_ms}ms")

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

