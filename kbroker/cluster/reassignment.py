"""Partition reassignment (AlterPartitionReassignments / ListPartitionReassignments), as Kafka's ZooKeeper-era
controller carries it out.

A request writes the topic znode (conditionally, on its version): the partition's replicas become the target
followed by the original replicas not in it, with `adding` and `removing` recorded. The new replicas start
following at once (they are replicas now); the leader adds them to the ISR when they catch up. The controller
then completes it (`complete`): once the whole target is in the ISR it elects a leader from the target if the
current one is leaving, shrinks the ISR to the target and writes the target as the replicas — one fenced multi —
and the removed replicas delete their copies. A cancel (replicas null) puts the original replicas back.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from kbroker.cluster import paths
from kbroker.cluster.paths import PartitionState, TopicAssignment
from kbroker.cluster.store import BadVersion, NoNode, SetData
from wire.errors import ErrorCode

if TYPE_CHECKING:
    from kbroker.cluster.controller import Controller
    from kbroker.cluster.node import ClusterNode


async def alter(node: "ClusterNode", topic: str, index: int, replicas: list[int] | None, *,
                allow_rf_change: bool = True) -> tuple[int, str | None]:
    """(error code, message) for one partition of an AlterPartitionReassignments request."""
    md = node.md
    for _ in range(5):
        try:
            data, stat = await md.session.get(paths.topic_path(topic))
        except NoNode:
            return int(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION), f"Unable to find a topic named {topic}."
        current = TopicAssignment.decode(topic, data)
        if index not in current.replicas:
            return int(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION), f"Unable to find partition {topic}:{index}."
        original = current.original(index)
        adding, removing = dict(current.adding), dict(current.removing)
        table = dict(current.replicas)
        if replicas is None:
            if not current.reassigning(index):
                return int(ErrorCode.NO_REASSIGNMENT_IN_PROGRESS), "No partition reassignment is in progress."
            table[index] = original
            adding.pop(index, None)
            removing.pop(index, None)
        else:
            if not replicas:
                return (int(ErrorCode.INVALID_REPLICA_ASSIGNMENT),
                        "The manual partition assignment includes an empty replica list.")
            if len(set(replicas)) != len(replicas):
                dup = next(b for b in replicas if replicas.count(b) > 1)
                return (int(ErrorCode.INVALID_REPLICA_ASSIGNMENT),
                        f"The manual partition assignment includes the broker {dup} more than once.")
            unknown = [b for b in replicas if b not in md.brokers]
            if unknown:
                return (int(ErrorCode.INVALID_REPLICA_ASSIGNMENT), f"The manual partition assignment includes "
                        f"broker {unknown[0]}, but no such broker is registered.")
            if not allow_rf_change and len(replicas) != len(original):
                return (int(ErrorCode.INVALID_REPLICATION_FACTOR), "The replication factor is changed from "
                        f"{len(original)} to {len(replicas)}")
            table[index] = list(replicas) + [b for b in original if b not in replicas]
            adding[index] = [b for b in replicas if b not in original]
            removing[index] = [b for b in original if b not in replicas]
            if not adding[index] and not removing[index]:
                table[index] = list(replicas)  # a new order only
        updated = TopicAssignment(topic, current.topic_id, table, adding, removing)
        try:
            await md.session.set(paths.topic_path(topic), updated.encode(), stat.version)
        except BadVersion:
            continue
        return 0, None
    return int(ErrorCode.REQUEST_TIMED_OUT), f"The assignment of {topic} kept changing"


async def complete(controller: "Controller") -> None:
    """The controller's part: finish every reassignment whose target replicas are all in the ISR."""
    md = controller.md
    for topic, assignment in list(md.topics.items()):
        for index in [p for p in assignment.replicas if assignment.reassigning(p)]:
            target = assignment.target(index)
            state = md.states.get((topic, index))
            if state is None or not set(target) <= set(state.isr):
                continue
            try:
                data, topic_stat = await md.session.get(paths.topic_path(topic))
            except NoNode:
                continue
            fresh = TopicAssignment.decode(topic, data)
            if fresh.target(index) != target:
                continue
            leader = state.leader if state.leader in target else next(
                (b for b in target if b in state.isr and b in md.brokers), -1)
            epoch = state.leader_epoch + (1 if leader != state.leader else 0)
            isr = tuple(b for b in state.isr if b in target)
            new_state = PartitionState(leader, epoch, isr, controller.epoch)
            adding, removing = dict(fresh.adding), dict(fresh.removing)
            adding.pop(index, None)
            removing.pop(index, None)
            done = TopicAssignment(topic, fresh.topic_id, {**fresh.replicas, index: target}, adding, removing)
            try:
                await md.session.multi(controller._fenced(SetData(paths.state_path(topic, index),
                                                                  new_state.encode(), state.version)) +
                                       [SetData(paths.topic_path(topic), done.encode(), topic_stat.version)])
            except (BadVersion, NoNode):
                md.invalidate_all()
                continue


def listing(node: "ClusterNode", wanted: list[tuple[str, list[int]]] | None) -> list[dict]:
    """ListPartitionReassignments' topics: the partitions being reassigned (of those asked for)."""
    md = node.md
    out = []
    names = sorted(md.topics) if wanted is None else [t for t, _ in wanted]
    asked = dict(wanted) if wanted is not None else {}
    for name in names:
        assignment = md.topics.get(name)
        if assignment is None:
            continue
        indexes = asked.get(name) if wanted is not None else list(assignment.replicas)
        partitions = [{"partition_index": p, "replicas": assignment.replicas[p],
                       "adding_replicas": assignment.adding.get(p, []),
                       "removing_replicas": assignment.removing.get(p, [])}
                      for p in indexes or [] if p in assignment.replicas and assignment.reassigning(p)]
        if partitions:
            out.append({"name": name, "partitions": partitions})
    return out
