"""ShareFetch's reading side: acquire records of a share-partition from the partition log, and the long poll.

Records are read through the Partition read API (up to the high watermark, or the last stable offset for a
read_committed group) as whole batches; the batches that hold acquired records go back to the client as they
are, with the acquired offset ranges beside them (the client delivers only those). Control batches and, for
read_committed, batches of aborted transactions are never acquired: they stay gaps of the window.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio

from kbroker.coordinator.share.coordinator import ShareCoordinator, ShareSession, now_ms
from kbroker.coordinator.share.partition_state import LogBatch, ranges
from kbroker.partition import READ_COMMITTED, READ_UNCOMMITTED
from wire import records as rec
from wire.errors import ErrorCode as E
from wire.errors import KafkaError

if TYPE_CHECKING:
    pass


@dataclass
class Acquired:
    topic_id: bytes
    partition: int
    error_code: int = 0
    records: bytes = b""
    ranges: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(last - first + 1 for first, last, _ in self.ranges)


def _log_batches(data: memoryview, aborted: list[tuple[int, int]] | None) -> list[tuple[int, rec.BatchHeader, bool]]:
    """(position, header, skip) for each batch: skip control batches and batches of aborted transactions."""
    pending = sorted(aborted or (), key=lambda a: a[1])
    active: set[int] = set()
    out = []
    for position, header in rec.iter_batches(data):
        while pending and pending[0][1] <= header.last_offset:
            active.add(pending.pop(0)[0])
        if header.is_control:
            active.discard(header.producer_id)
            out.append((position, header, True))
            continue
        out.append((position, header, header.is_transactional and header.producer_id in active))
    return out


def acquire(coord: ShareCoordinator, group_id: str, member_id: str, topic_id: bytes, index: int, *,
            max_records: int, max_bytes: int) -> Acquired:
    """Lock records of one share-partition for a member and read them."""
    result = Acquired(topic_id, index)
    info = coord.topic_info(topic_id)
    if info is None:
        result.error_code = E.UNKNOWN_TOPIC_ID
        return result
    partition = coord.broker.partition(info.name, index)
    if partition is None:
        result.error_code = E.UNKNOWN_TOPIC_OR_PARTITION
        return result
    try:
        state = coord.share_partition(group_id, topic_id, index, partition)
    except KafkaError as exc:
        result.error_code = exc.code
        return result
    now = now_ms()
    limit = coord.settings.delivery_limit(group_id)
    key = (group_id, topic_id, index)
    if state.expire_locks(now, limit):
        coord._persist_quietly(key, state)
    state.skip_to(partition.log.log_start_offset)
    isolation = READ_COMMITTED if coord.settings.read_committed(group_id) else READ_UNCOMMITTED
    max_locks = coord.settings.max_record_locks(group_id)
    deadline = now + coord.settings.lock_ms(group_id)
    first = state.first_available()
    position = first if first is not None else state.next_offset
    budget = max_bytes
    acquired: list[int] = []
    chunks: list[bytes] = []
    counts: dict[int, int] = {}
    while budget > 0 and len(acquired) < max_records and state.acquired_count() < max_locks:
        try:
            data = partition.read(position, budget, isolation=isolation, min_one_batch=not chunks)
        except KafkaError:
            break
        if not data.records:
            break
        view = memoryview(data.records)
        batches = _log_batches(view, data.aborted)
        if not batches:
            break
        got = state.acquire([LogBatch(h.base_offset, h.last_offset, skip) for _, h, skip in batches], member_id,
                            deadline_ms=deadline, max_records=max_records - len(acquired), max_locks=max_locks)
        if got:
            got_sorted = sorted(got)
            lo, hi = got_sorted[0], got_sorted[-1]
            for pos, h, _ in batches:
                if h.last_offset >= lo and h.base_offset <= hi and \
                        any(h.base_offset <= o <= h.last_offset for o in got):
                    chunks.append(bytes(view[pos: pos + h.size]))
            for o in got:
                counts[o] = state.records[o].delivery_count
            acquired.extend(got)
        position = batches[-1][1].last_offset + 1
        budget -= len(data.records)
    acquired.sort()
    result.records = b"".join(chunks)
    result.ranges = list(ranges(acquired, counts))
    return result


def fetch_session(coord: ShareCoordinator, session: ShareSession, *, max_records: int,
                  max_bytes: int) -> list[Acquired]:
    out = []
    remaining_records, remaining_bytes = max_records, max_bytes
    for topic_id, index in sorted(session.partitions):
        if remaining_records <= 0 or remaining_bytes <= 0:
            out.append(Acquired(topic_id, index))
            continue
        got = acquire(coord, session.group_id, session.member_id, topic_id, index,
                      max_records=remaining_records, max_bytes=remaining_bytes)
        remaining_records -= got.count
        remaining_bytes -= len(got.records)
        out.append(got)
    return out


async def fetch_wait(coord: ShareCoordinator, session: ShareSession, *, max_records: int, max_bytes: int,
                     min_bytes: int, max_wait_ms: int) -> list[Acquired]:
    """Acquire now; with nothing (or less than min_bytes) acquired, wait for an append, for records coming free
    (acknowledged, released, a lock running out), at most max_wait_ms."""
    results = fetch_session(coord, session, max_records=max_records, max_bytes=max_bytes)
    total = sum(len(r.records) for r in results)
    if total >= max(1, min_bytes) or max_wait_ms <= 0 or not session.partitions:
        return results
    deadline = now_ms() + max_wait_ms
    while True:
        now = now_ms()
        if now >= deadline:
            return results
        wake_at = deadline
        for topic_id, index in session.partitions:
            state = coord.partitions.get((session.group_id, topic_id, index))
            due = state.next_deadline() if state is not None else None
            if due is not None:
                wake_at = min(wake_at, due)
        event = anyio.Event()
        parts = []
        keys = [(session.group_id, topic_id, index) for topic_id, index in session.partitions]
        for key in keys:
            coord.add_waiter(key, event)
        for topic_id, index in session.partitions:
            info = coord.topic_info(topic_id)
            p = coord.broker.partition(info.name, index) if info is not None else None
            if p is not None:
                p.add_waiter(event)
                parts.append(p)
        try:
            with anyio.move_on_after(max(0, wake_at - now) / 1000 + 0.001):
                await event.wait()
        finally:
            for p in parts:
                p.remove_waiter(event)
            for key in keys:
                coord.remove_waiter(key, event)
        if (session.group_id, session.member_id) not in coord.sessions:
            return results
        more = fetch_session(coord, session, max_records=max_records, max_bytes=max_bytes)
        for r, m in zip(results, more):
            if m.ranges:
                r.records += m.records
                r.ranges.extend(m.ranges)
            if m.error_code:
                r.error_code = m.error_code
        total = sum(len(r.records) for r in results)
        if total >= max(1, min_bytes) or any(r.error_code for r in results):
            return results
