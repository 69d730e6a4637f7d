"""One partition's replication state on this broker (Kafka's cluster/Partition and cluster/Replica, cut small).

A Partition that belongs to a cluster carries one of these as `partition.replica`. As leader it tracks each
follower's log end offset and last caught-up time (learnt from the follower's fetches), derives the high watermark
(the lowest log end offset over the ISR, never moving backwards), tells which followers fell out of sync
(replica.lag.time.max.ms) or caught up, and wakes the acks=all produces parked on the high watermark. As follower
it only remembers its leader; the fetcher appends and moves the high watermark.

The ISR itself is written to the partition's state znode (by the leader's conditional write, see
replica_manager.py); `isr` here is the leader's last known copy with the znode version it was read at.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from kbroker.partition import Partition

LEADER, FOLLOWER, OFFLINE = "leader", "follower", "offline"


def mono_ms() -> int:
    return time.monotonic_ns() // 1_000_000


@dataclass
class FollowerState:
    """What the leader knows of one follower (Kafka's Replica)."""
    broker_id: int
    log_end_offset: int = -1
    last_caught_up_ms: int = 0
    last_fetch_ms: int = 0
    leader_leo_at_last_fetch: int = -1


@dataclass
class ReplicaState:
    partition: "Partition"
    broker_id: int
    role: str = OFFLINE
    leader_id: int = -1
    replicas: list[int] = field(default_factory=list)
    isr: tuple[int, ...] = ()
    partition_version: int = -1
    """The state znode's version the ISR was read at (Kafka's partition epoch)."""
    followers: dict[int, FollowerState] = field(default_factory=dict)
    joins_wanted: set[int] = field(default_factory=set)
    """Followers out of the ISR whose latest fetch reached the leader's log end: the ISR task proposes adding them
    (Kafka's maybeExpandIsr, driven by the fetch only; stale fetch state never re-adds anyone)."""
    _hw_waiters: set[anyio.Event] = field(default_factory=set)

    # -- roles

    def become_leader(self, epoch: int, replicas: list[int], isr: tuple[int, ...], version: int) -> None:
        now = mono_ms()
        self.partition.leader_epoch = epoch
        self.role, self.leader_id = LEADER, self.broker_id
        self.replicas, self.isr, self.partition_version = list(replicas), tuple(isr), version
        # a new leader gives its followers a fresh start: caught up "now" if in the ISR (as Kafka's makeLeader)
        self.followers = {b: FollowerState(b, -1, now if b in isr else 0) for b in replicas if b != self.broker_id}
        self.joins_wanted = set()
        self.maybe_increment_hw()
        self.wake()

    def become_follower(self, leader: int, epoch: int, replicas: list[int]) -> None:
        self.partition.leader_epoch = epoch
        self.role, self.leader_id = FOLLOWER, leader
        self.replicas, self.followers, self.joins_wanted = list(replicas), {}, set()
        self.wake()

    def go_offline(self, epoch: int) -> None:
        self.partition.leader_epoch = epoch
        self.role, self.leader_id = OFFLINE, -1
        self.wake()

    @property
    def is_leader(self) -> bool:
        return self.role == LEADER

    # -- the leader's view of its followers

    def update_follower(self, broker_id: int, fetch_offset: int, may_join: bool = True) -> None:
        """A follower fetched from fetch_offset: it holds everything below it (Kafka's updateFollowerFetchState).
        The only place a follower asks to rejoin the ISR; may_join=False for a broker not registered as alive
        (Kafka's isReplicaIsrEligible)."""
        follower = self.followers.get(broker_id)
        if follower is None:
            if broker_id not in self.replicas:
                return
            follower = self.followers[broker_id] = FollowerState(broker_id)
        now = mono_ms()
        leo = self.partition.log.log_end_offset
        if fetch_offset >= leo:
            follower.last_caught_up_ms = now
        elif fetch_offset >= follower.leader_leo_at_last_fetch >= 0:
            follower.last_caught_up_ms = max(follower.last_caught_up_ms, follower.last_fetch_ms)
        follower.log_end_offset = fetch_offset
        follower.last_fetch_ms = now
        follower.leader_leo_at_last_fetch = leo
        if may_join and broker_id not in self.isr and self._can_join_isr(follower):
            self.joins_wanted.add(broker_id)
        self.maybe_increment_hw()

    def _can_join_isr(self, follower: FollowerState) -> bool:
        """Caught up to the high watermark and to the start of this leader's epoch (Kafka's isFollowerInSync)."""
        plog = self.partition.log
        epoch_start = plog.leader_epoch_cache.latest_entry
        start = epoch_start.start_offset if epoch_start and epoch_start.epoch == self.partition.leader_epoch else 0
        return follower.log_end_offset >= max(plog.high_watermark, start)

    def take_joiners(self) -> list[int]:
        """The followers a fetch asked to add to the ISR since the last call, still eligible; the requests are
        consumed (a lost proposal is asked again by the follower's next fetch)."""
        wanted, self.joins_wanted = self.joins_wanted, set()
        return [b for b in wanted if b in self.replicas and b not in self.isr and b in self.followers
                and self._can_join_isr(self.followers[b])]

    def forget_dropped(self, new_isr: tuple[int, ...]) -> None:
        """A newer partition state (the controller's) dropped followers from the ISR: what they fetched before is
        no evidence they are alive now, so their fetch state starts over, as for a new leader epoch."""
        for b in set(self.isr) - set(new_isr):
            if b != self.broker_id and b in self.followers:
                self.followers[b] = FollowerState(b)
            self.joins_wanted.discard(b)

    def out_of_sync(self, lag_ms: int) -> list[int]:
        now = mono_ms()
        leo = self.partition.log.log_end_offset
        out = []
        for b in self.isr:
            if b == self.broker_id:
                continue
            f = self.followers.get(b)
            if f is None or (f.log_end_offset < leo and now - f.last_caught_up_ms > lag_ms):
                out.append(b)
        return out

    def maybe_increment_hw(self) -> bool:
        """HW = the lowest log end offset over the ISR; it never moves backwards. Wakes parked produces."""
        if self.role != LEADER:
            return False
        plog = self.partition.log
        low = plog.log_end_offset
        for b in self.isr:
            if b == self.broker_id:
                continue
            f = self.followers.get(b)
            low = min(low, f.log_end_offset if f is not None else -1)
        if low > plog.high_watermark:
            plog.high_watermark = low
            self.wake()
            return True
        return False

    # -- parked produces (Kafka's DelayedProduce)

    def wake(self) -> None:
        waiters, self._hw_waiters = self._hw_waiters, set()
        for event in waiters:
            event.set()
        self.partition._wake()  # fetches parked on this partition may have something new to read

    async def wait_replicated(self, last_offset: int, epoch: int) -> bool:
        """Until the HW passes last_offset (True), or this broker stops leading that epoch (False)."""
        while True:
            if self.role != LEADER or self.partition.leader_epoch != epoch:
                return False
            if self.partition.log.high_watermark > last_offset:
                return True
            event = anyio.Event()
            self._hw_waiters.add(event)
            await event.wait()
