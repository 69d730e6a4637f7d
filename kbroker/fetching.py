"""Reading many partitions for one Fetch: byte limits, the first-batch rule, and the long-poll wait.

Limits follow KIP-74: each partition gets at most partition_max_bytes and the response at most max_bytes, except
that the first partition with data returns its first batch whole even when larger, so a consumer is never stuck
behind a big batch. A fetch that has less than min_bytes waits until any of its partitions is appended to, or
max_wait_ms passes, then reads again: once, the bytes that arrived meanwhile being counted from log positions. read_committed reads stop at the last stable offset and list the aborted
transactions among the records returned (a transaction marker wakes waiting fetches like any append).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import anyio

from kbroker.log.segment import LogSegment
from kbroker.partition import READ_COMMITTED, READ_LOG_END, Partition
from wire.errors import ErrorCode, KafkaError


@dataclass
class PartitionRead:
    topic: str
    index: int
    fetch_offset: int
    max_bytes: int
    current_leader_epoch: int = -1
    # filled by read_partitions
    error_code: int = 0
    records: bytes | memoryview = b""
    high_watermark: int = -1
    last_stable_offset: int = -1
    log_start_offset: int = -1
    aborted: list[dict] | None = field(default=None)


def read_partitions(broker, reads: list[PartitionRead], max_bytes: int, isolation: int) -> int:  # type: ignore[no-untyped-def]
    """Fill every read; the total record bytes returned."""
    remaining = max_bytes
    min_one = True
    total = 0
    for r in reads:
        part: Partition | None = broker.partition(r.topic, r.index)
        r.records = b""
        r.aborted = None
        if part is None:
            r.error_code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            r.high_watermark = r.last_stable_offset = r.log_start_offset = -1
            continue
        try:
            part.check_leader_epoch(r.current_leader_epoch)
            data = part.read(r.fetch_offset, min(r.max_bytes, remaining), isolation=isolation, min_one_batch=min_one)
        except KafkaError as exc:
            r.error_code = exc.code
            r.high_watermark = part.high_watermark
            r.last_stable_offset = part.last_stable_offset
            r.log_start_offset = part.log.log_start_offset
            continue
        r.error_code = 0
        r.records = data.records
        r.high_watermark = data.high_watermark
        r.last_stable_offset = data.last_stable_offset
        r.log_start_offset = data.log_start_offset
        if isolation == READ_COMMITTED:
            r.aborted = [{"producer_id": pid, "first_offset": first} for pid, first in data.aborted or ()]
        else:
            r.aborted = None
        size = len(data.records)
        if size:
            min_one = False
            remaining = max(0, remaining - size)
            total += size
    return total


def _available(broker, reads: list[PartitionRead], isolation: int,  # type: ignore[no-untyped-def]
               starts: dict[int, tuple[LogSegment, int]]) -> int | None:
    """Bytes a waiting fetch could now return, measured from log positions without reading any data (Kafka's
    DelayedFetch.tryComplete); None when it must complete at once: a partition went away or changed leader
    epoch, or its readable end moved to another segment than its fetch offset (a roll, a truncation, the cleaner
    replacing the segment).
    `starts` caches the position of each read's fetch offset, found once."""
    total = 0
    for i, r in enumerate(reads):
        part: Partition | None = broker.partition(r.topic, r.index)
        if part is None:
            return None
        try:
            part.check_leader_epoch(r.current_leader_epoch)
        except KafkaError:
            return None
        if isolation == READ_LOG_END:  # a follower's fetch: up to the log end, as part.read serves it
            limit = part.log.log_end_offset
        else:
            limit = part.last_stable_offset if isolation == READ_COMMITTED else part.high_watermark
        if limit <= r.fetch_offset:
            continue
        plog = part.log
        start = starts.get(i)
        if start is None:
            start = starts[i] = plog.offset_position(r.fetch_offset)
        end = plog.offset_position(limit)
        if end[0] is not start[0]:  # the same segment object: one the cleaner replaced may share its base offset
            return None
        total += min(max(0, end[1] - start[1]), r.max_bytes)
    return total


async def fetch(  # type: ignore[no-untyped-def]
    broker, reads: list[PartitionRead], *, max_bytes: int, min_bytes: int, max_wait_ms: int, isolation: int
) -> None:
    """Read, and when less than min_bytes came back, wait for appends up to max_wait_ms and read once more.
    While waiting, each wake-up only measures how many bytes became readable (from positions in the logs);
    the data is read once, when the fetch completes, so a long poll costs the same however many appends it
    sees."""
    total = read_partitions(broker, reads, max_bytes, isolation)
    if total >= min_bytes or max_wait_ms <= 0 or any(r.error_code for r in reads) or not reads:
        return
    starts: dict[int, tuple[LogSegment, int]] = {}
    with anyio.move_on_after(max_wait_ms / 1000):
        while True:
            event = anyio.Event()
            parts = [p for r in reads if (p := broker.partition(r.topic, r.index)) is not None]
            for p in parts:
                p.add_waiter(event)
            try:
                await event.wait()
            finally:
                for p in parts:
                    p.remove_waiter(event)
            available = _available(broker, reads, isolation, starts)
            if available is None or available >= min_bytes:
                break
    read_partitions(broker, reads, max_bytes, isolation)
