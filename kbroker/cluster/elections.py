"""Leader elections asked for by ElectLeaders (preferred or unclean), and the preferred-leader choice the
controller's auto rebalance uses.

An election is a conditional write of the partition's state znode on the version read just before (a new leader
epoch; the ISR kept for a preferred election, the chosen replica alone for an unclean one), so it cannot undo a
change made meanwhile by the controller or the leader; the answer waits (bounded) until this broker's metadata
shows the new leader.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from kbroker.cluster import paths
from kbroker.cluster.paths import PartitionState
from kbroker.cluster.store import BadVersion, NoNode
from wire.errors import ErrorCode

if TYPE_CHECKING:
    from kbroker.cluster.metadata import ClusterMetadata
    from kbroker.cluster.node import ClusterNode

PREFERRED, UNCLEAN = 0, 1
NOT_NEEDED = "Leader election not needed for topic partition."


def preferred_choice(md: "ClusterMetadata", topic: str, index: int, state: PartitionState) -> int | None:
    """The preferred replica if it may lead now (alive, in the ISR) and does not already; else None."""
    replicas = md.replicas_of(topic, index)
    if not replicas:
        return None
    preferred = replicas[0]
    if state.leader == preferred or preferred not in md.brokers or preferred not in state.isr:
        return None
    return preferred


def needs_preferred(md: "ClusterMetadata", topic: str, index: int) -> bool:
    state = md.states.get((topic, index))
    replicas = md.replicas_of(topic, index)
    return state is not None and bool(replicas) and state.leader != replicas[0]


async def elect(node: "ClusterNode", topic: str, index: int, election: int, *,
                timeout: float = 10.0) -> tuple[int, str | None]:
    """(error code, message) of one partition's election, as ElectLeaders reports it."""
    md = node.md
    for _ in range(5):
        replicas = md.replicas_of(topic, index)
        if not replicas:
            return int(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION), f"No such partition as {topic}-{index}"
        try:
            data, stat = await md.session.get(paths.state_path(topic, index))
        except NoNode:
            return int(ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE), f"{topic}-{index} has no state yet"
        state = PartitionState.decode(data, stat.version)
        if election == PREFERRED:
            if state.leader == replicas[0]:
                return int(ErrorCode.ELECTION_NOT_NEEDED), NOT_NEEDED
            chosen = preferred_choice(md, topic, index, state)
            if chosen is None:
                return (int(ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE), f"Failed to elect leader for partition "
                        f"{topic}-{index} under strategy PreferredReplicaPartitionLeaderElectionStrategy")
            new = PartitionState(chosen, state.leader_epoch + 1, state.isr, state.controller_epoch)
        else:
            if state.leader >= 0 and state.leader in md.brokers:
                return int(ErrorCode.ELECTION_NOT_NEEDED), NOT_NEEDED
            live_isr = [b for b in replicas if b in state.isr and b in md.brokers]
            live = live_isr or [b for b in replicas if b in md.brokers]
            if not live:
                return (int(ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE), f"Failed to elect leader for partition "
                        f"{topic}-{index} under strategy UncleanPartitionLeaderElectionStrategy")
            isr = tuple(b for b in state.isr if b in md.brokers) if live_isr else (live[0],)
            new = PartitionState(live[0], state.leader_epoch + 1, isr, state.controller_epoch)
        try:
            await md.session.set(paths.state_path(topic, index), new.encode(), stat.version)
        except BadVersion:
            continue  # changed meanwhile: decide again on the new state
        await node.wait_for(lambda: md.leader_of(topic, index) == new.leader, timeout)
        return 0, None
    return int(ErrorCode.REQUEST_TIMED_OUT), f"The state of {topic}-{index} kept changing"
