"""Share groups' membership (KIP-932): members, epochs, and Kafka's simple share assignor.

A share group has no revocation phase: every membership or subscription change bumps the group epoch and the
assignment is recomputed at once; each member gets its new assignment (and the new epoch) on its next
heartbeat. Several members may share one partition; that is the point of a share group.

The simple assignor, as Kafka's SimpleAssignor spreads partitions: for each topic, with at least as many
subscribed members as partitions, member i (in member-id order) gets partition i % partitions, so every member
works and every partition is worked on; with fewer members, partition j goes to member j % members.
"""
from __future__ import annotations

from dataclasses import dataclass, field

EMPTY, STABLE, DEAD = "Empty", "Stable", "Dead"
ASSIGNOR = "simple"


@dataclass
class ShareMember:
    member_id: str
    client_id: str
    client_host: str
    rack_id: str | None
    subscribed: list[str]
    member_epoch: int = 0
    previous_epoch: int = -1
    assignment: dict[bytes, list[int]] = field(default_factory=dict)
    sent_epoch: int = -1  # the epoch whose assignment the member has been told
    deadline_ms: int = 0


@dataclass
class ShareGroup:
    group_id: str
    group_epoch: int = 0
    assignment_epoch: int = 0
    members: dict[str, ShareMember] = field(default_factory=dict)

    @property
    def state(self) -> str:
        return STABLE if self.members else EMPTY

    def subscribed_topics(self) -> set[str]:
        return {t for m in self.members.values() for t in m.subscribed}


def simple_assign(members: list[ShareMember],
                  topics: dict[str, tuple[bytes, int]]) -> dict[str, dict[bytes, list[int]]]:
    """member id -> {topic id: partitions} for `topics` (name -> (topic id, partition count))."""
    out: dict[str, dict[bytes, list[int]]] = {m.member_id: {} for m in members}
    for name in sorted(topics):
        topic_id, count = topics[name]
        subscribers = sorted(m.member_id for m in members if name in m.subscribed)
        if not subscribers or count <= 0:
            continue
        if len(subscribers) >= count:
            for i, member_id in enumerate(subscribers):
                out[member_id].setdefault(topic_id, []).append(i % count)
        else:
            for p in range(count):
                out[subscribers[p % len(subscribers)]].setdefault(topic_id, []).append(p)
    return out
