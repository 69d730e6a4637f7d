"""One share-partition (share group × topic partition): which records are free, locked, done (KIP-932).

The window [start_offset, next_offset) holds every record that has been handed out at least once and is not
finished yet; below start_offset everything is finished, from next_offset on nothing was ever acquired. Each
record of the window is AVAILABLE (to be delivered again), ACQUIRED (locked by a member until a deadline),
ACKNOWLEDGED or ARCHIVED (both final). Offsets of the window that are not in `records` are gaps (control
records, aborted or compacted-away records) and count as finished. The start offset moves over finished
records as soon as they lead the window, so the window stays as small as the slowest in-flight record allows.

Delivery counts grow on each acquisition; a record released (explicitly or by its lock running out) after
`delivery_limit` deliveries is archived instead of made available again. Pure state: no I/O, no clock.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

from wire.errors import ErrorCode

AVAILABLE, ACQUIRED, ACKNOWLEDGED, ARCHIVED = 0, 1, 2, 4
"""Kafka's RecordState ids, as __share_group_state stores them."""

ACK_GAP, ACK_ACCEPT, ACK_RELEASE, ACK_REJECT, ACK_RENEW = 0, 1, 2, 3, 4

_FINAL = (ACKNOWLEDGED, ARCHIVED)


@dataclass
class InFlight:
    state: int
    delivery_count: int
    member_id: str | None = None
    deadline_ms: int = 0


@dataclass(frozen=True)
class StateBatch:
    first_offset: int
    last_offset: int
    state: int
    delivery_count: int


@dataclass(frozen=True)
class LogBatch:
    """What acquisition needs to know of one batch read from the partition log."""

    base_offset: int
    last_offset: int
    skip: bool  # a control batch, or (read_committed) a batch of an aborted transaction


class SharePartitionState:
    def __init__(self, start_offset: int, *, state_epoch: int = 0, leader_epoch: int = 0) -> None:
        self.start_offset = start_offset
        self.next_offset = start_offset
        self.state_epoch = state_epoch
        self.leader_epoch = leader_epoch
        self.records: dict[int, InFlight] = {}

    # -- reading

    def acquired_count(self) -> int:
        return sum(1 for r in self.records.values() if r.state == ACQUIRED)

    def first_available(self) -> int | None:
        offsets = [o for o, r in self.records.items() if r.state == AVAILABLE]
        return min(offsets) if offsets else None

    def next_deadline(self) -> int | None:
        deadlines = [r.deadline_ms for r in self.records.values() if r.state == ACQUIRED]
        return min(deadlines) if deadlines else None

    def held_by(self, member_id: str) -> list[int]:
        return sorted(o for o, r in self.records.items() if r.state == ACQUIRED and r.member_id == member_id)

    # -- lock expiry and releases

    def _release(self, r: InFlight, delivery_limit: int) -> None:
        r.member_id = None
        r.deadline_ms = 0
        r.state = ARCHIVED if r.delivery_count >= delivery_limit else AVAILABLE

    def expire_locks(self, now_ms: int, delivery_limit: int) -> bool:
        """Release every record whose acquisition lock ran out; whether anything changed."""
        changed = False
        for r in self.records.values():
            if r.state == ACQUIRED and r.deadline_ms <= now_ms:
                self._release(r, delivery_limit)
                changed = True
        if changed:
            self.advance()
        return changed

    def release_member(self, member_id: str, delivery_limit: int) -> bool:
        """A member's session ended (it left, or its share session closed): its records go back."""
        changed = False
        for r in self.records.values():
            if r.state == ACQUIRED and r.member_id == member_id:
                self._release(r, delivery_limit)
                changed = True
        if changed:
            self.advance()
        return changed

    # -- acquisition

    def acquire(self, batches: Iterable[LogBatch], member_id: str, *, deadline_ms: int, max_records: int,
                max_locks: int) -> list[int]:
        """Lock the AVAILABLE window records and the fresh records of these batches (in log order) for a member,
        at most max_records of them and never more than max_locks locked in all; the offsets acquired."""
        room = min(max_records, max_locks - self.acquired_count())
        acquired: list[int] = []
        for batch in batches:
            if room <= len(acquired):
                break
            for offset in range(max(batch.base_offset, self.start_offset), batch.last_offset + 1):
                if room <= len(acquired):
                    break
                if offset < self.next_offset:
                    r = self.records.get(offset)
                    if r is not None and r.state == AVAILABLE and not batch.skip:
                        r.state, r.member_id, r.deadline_ms = ACQUIRED, member_id, deadline_ms
                        r.delivery_count += 1
                        acquired.append(offset)
                    continue
                # fresh: the log's own gaps (offset > next_offset) and skipped batches stay gaps of the window
                self.next_offset = offset + 1
                if batch.skip:
                    continue
                self.records[offset] = InFlight(ACQUIRED, 1, member_id, deadline_ms)
                acquired.append(offset)
        return acquired

    def skip_to(self, offset: int) -> None:
        """The log no longer holds anything below `offset` (retention, DeleteRecords): forget it."""
        if offset <= self.start_offset:
            return
        for o in [o for o in self.records if o < offset]:
            del self.records[o]
        self.start_offset = offset
        self.next_offset = max(self.next_offset, offset)

    # -- acknowledgement

    def acknowledge(self, member_id: str, batches: list[tuple[int, int, list[int]]], *, now_ms: int,
                    delivery_limit: int, lock_ms: int, renew_allowed: bool) -> int:
        """Apply (first, last, types) acknowledgements of one member; all or nothing. The error code."""
        plan: list[tuple[int, int]] = []
        for first, last, types in batches:
            if last < first or not types or (len(types) != 1 and len(types) != last - first + 1):
                return ErrorCode.INVALID_REQUEST
            if first < self.start_offset or last >= self.next_offset:
                return ErrorCode.INVALID_RECORD_STATE  # never acquired, or finished: also bounds the work
            for i, offset in enumerate(range(first, last + 1)):
                kind = types[0] if len(types) == 1 else types[i]
                known = kind in (ACK_GAP, ACK_ACCEPT, ACK_RELEASE, ACK_REJECT) or (kind == ACK_RENEW and renew_allowed)
                if not known:
                    return ErrorCode.INVALID_REQUEST
                r = self.records.get(offset)
                if kind == ACK_GAP and (r is None or offset < self.start_offset):
                    continue
                if r is None or r.state != ACQUIRED or r.member_id != member_id:
                    return ErrorCode.INVALID_RECORD_STATE
                plan.append((offset, kind))
        for offset, kind in plan:
            r = self.records[offset]
            if kind in (ACK_ACCEPT, ACK_GAP):
                r.state, r.member_id, r.deadline_ms = ACKNOWLEDGED, None, 0
            elif kind == ACK_REJECT:
                r.state, r.member_id, r.deadline_ms = ARCHIVED, None, 0
            elif kind == ACK_RELEASE:
                self._release(r, delivery_limit)
            else:  # renew: the lock starts again
                r.deadline_ms = now_ms + lock_ms
        self.advance()
        return ErrorCode.NONE

    def advance(self) -> None:
        """Move the start offset over the finished records and gaps that lead the window."""
        offset = self.start_offset
        while offset < self.next_offset:
            r = self.records.get(offset)
            if r is not None and r.state not in _FINAL:
                break
            self.records.pop(offset, None)
            offset += 1
        self.start_offset = offset

    # -- administration

    def reset(self, start_offset: int) -> None:
        """AlterShareGroupOffsets: start again at this offset with nothing in flight."""
        self.records.clear()
        self.start_offset = self.next_offset = start_offset
        self.state_epoch += 1

    # -- persistence

    def batches(self) -> list[StateBatch]:
        """The window as runs of equal (state, delivery count); an ACQUIRED record is stored as AVAILABLE
        (a lock does not survive a restart)."""
        out: list[StateBatch] = []
        for offset in sorted(self.records):
            r = self.records[offset]
            state = AVAILABLE if r.state == ACQUIRED else r.state
            last = out[-1] if out else None
            if last is not None and last.last_offset == offset - 1 and last.state == state \
                    and last.delivery_count == r.delivery_count:
                out[-1] = StateBatch(last.first_offset, offset, state, r.delivery_count)
            else:
                out.append(StateBatch(offset, offset, state, r.delivery_count))
        return out

    @classmethod
    def restore(cls, start_offset: int, batches: Iterable[StateBatch], *, state_epoch: int = 0,
                leader_epoch: int = 0) -> "SharePartitionState":
        state = cls(start_offset, state_epoch=state_epoch, leader_epoch=leader_epoch)
        for b in batches:
            for offset in range(max(b.first_offset, start_offset), b.last_offset + 1):
                kind = AVAILABLE if b.state == ACQUIRED else b.state
                state.records[offset] = InFlight(kind, b.delivery_count)
                state.next_offset = max(state.next_offset, offset + 1)
        state.advance()
        return state


def ranges(offsets: list[int], counts: dict[int, int]) -> Iterator[tuple[int, int, int]]:
    """Sorted offsets as (first, last, delivery count) runs, the AcquiredRecords of a ShareFetch answer."""
    run: list[int] | None = None
    for offset in offsets:
        count = counts[offset]
        if run is not None and run[1] == offset - 1 and run[2] == count:
            run[1] = offset
            continue
        if run is not None:
            yield run[0], run[1], run[2]
        run = [offset, offset, count]
    if run is not None:
        yield run[0], run[1], run[2]
