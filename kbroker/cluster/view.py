"""What the handlers tell clients about the cluster: brokers, controller, and each partition's leader, epoch,
replicas, ISR and offline replicas — from the cluster metadata in a cluster, from the broker itself when alone.

Also the leader checks of the request paths (NOT_LEADER_OR_FOLLOWER with the KIP-951 current leader) and the
acks=all wait (Kafka's DelayedProduce), so handlers stay thin and know nothing of the cluster's internals.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from wire.errors import ErrorCode, KafkaError

if TYPE_CHECKING:
    from kbroker.broker import Broker
    from kbroker.partition import Partition


@dataclass(frozen=True)
class Node:
    node_id: int
    host: str
    port: int
    rack: str | None


@dataclass(frozen=True)
class PartitionView:
    leader: int
    leader_epoch: int
    replicas: list[int]
    isr: list[int]
    offline: list[int]

    @property
    def error_code(self) -> int:
        return int(ErrorCode.LEADER_NOT_AVAILABLE) if self.leader < 0 else 0


def brokers(broker: "Broker") -> list[Node]:
    cluster = broker.cluster
    if cluster is None:
        return [Node(broker.node_id, broker.advertised.host, broker.advertised.port, broker.config["broker.rack"] or None)]
    return [Node(b.broker_id, b.host, b.port, b.rack) for b in sorted(cluster.md.brokers.values(),
                                                                     key=lambda b: b.broker_id)]


def node(broker: "Broker", node_id: int) -> Node | None:
    return next((n for n in brokers(broker) if n.node_id == node_id), None)


def controller_id(broker: "Broker") -> int:
    return broker.node_id if broker.cluster is None else broker.cluster.md.controller_id


def partition(broker: "Broker", topic: str, index: int) -> PartitionView:
    cluster = broker.cluster
    if cluster is None:
        part = broker.partition(topic, index)
        me = broker.node_id
        return PartitionView(me, part.leader_epoch if part else 0, [me], [me], [])
    md = cluster.md
    replicas = md.replicas_of(topic, index)
    state = md.states.get((topic, index))
    offline = [b for b in replicas if b not in md.brokers]
    if state is None:
        return PartitionView(-1, -1, replicas, [], offline)
    return PartitionView(state.leader, state.leader_epoch, replicas, list(state.isr), offline)


def current_leader(broker: "Broker", topic: str, index: int) -> dict:
    """The KIP-951 tagged field of a NOT_LEADER_OR_FOLLOWER answer."""
    view = partition(broker, topic, index)
    return {"leader_id": view.leader, "leader_epoch": view.leader_epoch}


# -- request paths


def require_leader(broker: "Broker", topic: str, index: int, part: "Partition | None") -> "Partition":
    """The partition if this broker leads it; NOT_LEADER_OR_FOLLOWER when another broker does (or should)."""
    if part is None:
        if broker.cluster is not None and broker.cluster.md.replicas_of(topic, index):
            raise KafkaError(ErrorCode.NOT_LEADER_OR_FOLLOWER)
        raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    if part.replica is not None and not part.replica.is_leader:
        raise KafkaError(ErrorCode.NOT_LEADER_OR_FOLLOWER)
    return part


def min_insync(broker: "Broker", topic: str) -> int:
    try:
        return int(broker.topic_config(topic, "min.insync.replicas"))
    except (KeyError, ValueError):
        return 1


def check_enough_replicas(broker: "Broker", part: "Partition") -> None:
    """acks=all before the append: the ISR must have min.insync.replicas members (a lone broker has one)."""
    isr = len(part.replica.isr) if part.replica is not None else 1
    wanted = min_insync(broker, part.topic)
    if isr < wanted:
        raise KafkaError(ErrorCode.NOT_ENOUGH_REPLICAS,
                         f"The size of the current ISR {isr} is insufficient to satisfy the min.isr requirement "
                         f"of {wanted} for partition {part.topic}-{part.index}")


async def await_replication(broker: "Broker", waits: list[tuple[dict, "Partition", int, int]],
                            timeout_ms: int) -> None:
    """Park acks=all answers until the HW passes each batch (entry, partition, last offset, leader epoch);
    errors go into the entries: REQUEST_TIMED_OUT, NOT_LEADER_OR_FOLLOWER, NOT_ENOUGH_REPLICAS_AFTER_APPEND."""
    pending = []
    for entry, part, last, epoch in waits:
        rs = part.replica
        if rs is None:
            continue
        if rs.is_leader and part.leader_epoch == epoch and part.log.high_watermark > last:
            if len(rs.isr) < min_insync(broker, part.topic):  # replicated already: only the ISR check is left
                entry.update(error_code=int(ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND), base_offset=-1,
                             error_message=None)
            continue
        pending.append((entry, part, last, epoch))
    waits = pending
    if not waits:
        return

    async def one(entry: dict, part: "Partition", last: int, epoch: int) -> None:
        rs = part.replica
        assert rs is not None
        ok = None
        with anyio.move_on_after(max(timeout_ms, 0) / 1000):
            ok = await rs.wait_replicated(last, epoch)
        if ok is None:
            entry["error_code"] = int(ErrorCode.REQUEST_TIMED_OUT)
        elif not ok:
            entry["error_code"] = int(ErrorCode.NOT_LEADER_OR_FOLLOWER)
        elif len(rs.isr) < min_insync(broker, part.topic):
            entry["error_code"] = int(ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND)
        else:
            return
        entry["base_offset"] = -1
        entry["error_message"] = None

    async with anyio.create_task_group() as tg:
        for entry, part, last, epoch in waits:
            tg.start_soon(one, entry, part, last, epoch)


async def await_group_write(broker: "Broker", group_id: str, timeout_ms: int = 5000) -> int:
    """After a group coordinator's write in a cluster: wait until the offsets partition's ISR has it (Kafka's
    coordinator appends with acks=all); 0, or COORDINATOR_NOT_AVAILABLE when it did not replicate in time."""
    if broker.cluster is None:
        return 0
    from kbroker.coordinator.records import partition_for

    info = broker.metadata.topics.get("__consumer_offsets")
    part = broker.partition("__consumer_offsets", partition_for(group_id, info.partitions)) if info else None
    if part is None or part.replica is None:
        return 0
    last = part.log.log_end_offset - 1
    ok = None
    with anyio.move_on_after(timeout_ms / 1000):
        ok = await part.replica.wait_replicated(last, part.leader_epoch)
    return 0 if ok else int(ErrorCode.COORDINATOR_NOT_AVAILABLE)
