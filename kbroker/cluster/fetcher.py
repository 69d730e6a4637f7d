"""Follower fetchers: one task per source broker, fetching all the partitions this broker follows there.

A partition joins a fetcher needing truncation (KIP-101/279): the fetcher first asks the leader
OffsetForLeaderEpoch for the follower's latest epoch and truncates a suffix the leader does not have (to the end
of that epoch on the leader, or of the latest epoch both have), and only then fetches. Fetches carry the replica
id and broker epoch (Fetch v15 `ReplicaState`, topics by id), read up to the leader's log end, and are appended as they are (offsets, epochs,
producer state kept); the follower's high watermark is min(its log end, the leader's high watermark).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from kbroker.broker import now_ms
from kbroker.cluster.client import BrokerClient
from wire.errors import ErrorCode

if TYPE_CHECKING:
    from kbroker.cluster.replica_manager import ReplicaManager

log = logging.getLogger(__name__)

FETCH_V, EPOCH_V = 15, 3
_RETRY = {ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.FENCED_LEADER_EPOCH, ErrorCode.UNKNOWN_LEADER_EPOCH,
          ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.REPLICA_NOT_AVAILABLE}


@dataclass
class FetchState:
    epoch: int
    truncating: bool = True
    delayed_until: float = 0.0


class Fetcher:
    def __init__(self, manager: "ReplicaManager", leader_id: int) -> None:
        self.manager = manager
        self.leader_id = leader_id
        self.partitions: dict[tuple[str, int], FetchState] = {}
        self._wake = anyio.Event()
        self._client: BrokerClient | None = None
        self._address: tuple[str, int] | None = None

    def add(self, tp: tuple[str, int], epoch: int) -> None:
        self.partitions[tp] = FetchState(epoch)
        self._wake.set()

    def remove(self, tp: tuple[str, int]) -> None:
        self.partitions.pop(tp, None)

    def _connection(self) -> BrokerClient | None:
        info = self.manager.md.brokers.get(self.leader_id)
        if info is None:
            return None
        if self._client is None or self._address != (info.host, info.port):
            me, leader, net = self.manager.broker_id, self.leader_id, self.manager.network
            self._client = BrokerClient(info.host, info.port, client_id=f"broker-{me}-fetcher-{leader}",
                                        reachable=lambda: net.can_reach(me, leader))
            self._address = (info.host, info.port)
        return self._client

    async def run(self) -> None:
        try:
            while True:
                if not self.partitions:
                    self._wake = anyio.Event()
                    with anyio.move_on_after(1.0):
                        await self._wake.wait()
                    continue
                client = self._connection()
                if client is None:
                    await anyio.sleep(0.1)
                    continue
                try:
                    await self._truncate(client)
                    await self._fetch(client)
                except (OSError, ConnectionError, TimeoutError, anyio.EndOfStream, anyio.BrokenResourceError) as exc:
                    log.debug("fetcher to broker %d: %s", self.leader_id, exc)
                    await anyio.sleep(self.manager.backoff_s)
        finally:
            if self._client is not None:
                await self._client.close()

    def _ready(self, truncating: bool) -> dict[tuple[str, int], FetchState]:
        now = anyio.current_time()
        return {tp: st for tp, st in self.partitions.items()
                if st.truncating == truncating and st.delayed_until <= now}

    def _delay(self, tp: tuple[str, int]) -> None:
        st = self.partitions.get(tp)
        if st is not None:
            st.delayed_until = anyio.current_time() + self.manager.backoff_s

    async def _truncate(self, client: BrokerClient) -> None:
        wanted = self._ready(truncating=True)
        if not wanted:
            return
        topics: dict[str, list[dict]] = {}
        asked: dict[tuple[str, int], int] = {}
        for (topic, index), st in wanted.items():
            part = self.manager.broker.partition(topic, index)
            if part is None:
                continue
            latest = part.log.leader_epoch_cache.latest_epoch
            if latest is None:  # nothing with an epoch here: nothing can diverge
                st.truncating = False
                continue
            asked[(topic, index)] = latest
            topics.setdefault(topic, []).append({"partition": index, "current_leader_epoch": st.epoch,
                                                 "leader_epoch": latest})
        if not topics:
            return
        response = await client.request(23, EPOCH_V, {"replica_id": self.manager.broker_id, "topics": [
            {"topic": t, "partitions": ps} for t, ps in topics.items()]})
        for topic in response["topics"]:
            for p in topic["partitions"]:
                tp = (topic["topic"], p["partition"])
                st = self.partitions.get(tp)
                part = self.manager.broker.partition(*tp)
                if st is None or part is None or tp not in asked:
                    continue
                if p["error_code"]:
                    self._delay(tp)
                    continue
                plog = part.log
                epoch, end = p["leader_epoch"], p["end_offset"]
                if epoch < 0 or end < 0:
                    target = plog.high_watermark  # the leader knows none of our epochs: keep what was committed
                elif epoch == asked[tp]:
                    target = min(end, plog.log_end_offset)
                else:  # the leader's latest epoch that we also have ends earlier: cut at the earlier of both ends
                    _, ours = plog.end_offset_for_epoch(epoch)
                    target = min(end, ours if ours >= 0 else end, plog.log_end_offset)
                if target < plog.log_end_offset:
                    log.info("%s-%d: truncating from %d to %d (leader %d epoch %d)", tp[0], tp[1],
                             plog.log_end_offset, target, self.leader_id, epoch)
                    plog.truncate_to(target)
                st.truncating = False

    async def _fetch(self, client: BrokerClient) -> None:
        wanted = self._ready(truncating=False)
        if not wanted:
            await anyio.sleep(0.05)
            return
        manager = self.manager
        topics: dict[str, list[dict]] = {}
        for (topic, index), st in wanted.items():
            part = manager.broker.partition(topic, index)
            if part is None:
                continue
            topics.setdefault(topic, []).append({
                "partition": index, "current_leader_epoch": st.epoch, "fetch_offset": part.log.log_end_offset,
                "last_fetched_epoch": -1, "log_start_offset": part.log.log_start_offset,
                "partition_max_bytes": manager.fetch_max_bytes})
        ids = {name: info.topic_id for name in topics if (info := manager.broker.topic(name)) is not None}
        names = {topic_id: name for name, topic_id in ids.items()}
        me = manager.md.brokers.get(manager.broker_id)
        request = {"replica_state": {"replica_id": manager.broker_id, "replica_epoch": me.epoch if me else -1},
                   "max_wait_ms": manager.fetch_wait_ms, "min_bytes": 1,
                   "max_bytes": manager.fetch_response_max_bytes, "isolation_level": 0, "session_id": 0,
                   "session_epoch": -1, "forgotten_topics_data": [], "rack_id": "",
                   "topics": [{"topic_id": ids[t], "partitions": ps} for t, ps in topics.items() if t in ids]}
        response = await client.request(1, FETCH_V, request, timeout=manager.fetch_wait_ms / 1000 + 10)
        if response["error_code"]:
            await anyio.sleep(manager.backoff_s)
            return
        now = now_ms()
        for topic in response["responses"]:
            name = names.get(topic["topic_id"])
            if name is None:
                continue
            for p in topic["partitions"]:
                tp = (name, p["partition_index"])
                st = self.partitions.get(tp)
                part = manager.broker.partition(*tp)
                if st is None or part is None or st.truncating:
                    continue
                code = p["error_code"]
                if code == ErrorCode.OFFSET_OUT_OF_RANGE:
                    if part.log.log_end_offset < p["log_start_offset"]:
                        part.log.truncate_fully_and_start_at(p["log_start_offset"])
                    else:
                        st.truncating = True
                    continue
                if code:
                    self._delay(tp)
                    continue
                plog = part.log
                if p["records"]:
                    plog.append_as_follower(p["records"], now_ms=now)
                plog.high_watermark = min(plog.log_end_offset, p["high_watermark"])
                leader_start = p["log_start_offset"]
                if plog.log_start_offset < leader_start <= plog.high_watermark:
                    try:
                        plog.delete_records_before(leader_start)
                    except Exception:
                        log.debug("cannot follow the log start offset of %s-%d", *tp)
                part._wake()
