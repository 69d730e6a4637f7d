"""The KIP-848 consumer group model: groups, members, their epochs and assignments (no behaviour beyond derived
state), shared by the persistence, membership, assignment and heartbeat parts of kbroker.coordinator.consumer.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

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


class ConsumerGroupError(Exception):
    """A ConsumerGroupHeartbeat refused: the error code and message the member is answered with."""

    def __init__(self, code: int, message: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

