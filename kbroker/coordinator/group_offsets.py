"""Committed offsets of groups: OffsetCommit, OffsetFetch and OffsetDelete, the group side of transactional offset
commits, retention (offsets.retention.minutes) and the offsets of deleted topics.

Offsets are kept apart from the groups (a group may have offsets and no members, or the reverse), but commits
are validated against the group's membership, which is why this part builds on the classic member checks.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Iterable

from kbroker.coordinator.classic import CONSUMER_PROTOCOL_TYPE, ClassicGroup, ClassicState, wall_ms
from kbroker.coordinator.classic_rebalance import ClassicRebalance
from kbroker.coordinator.records import OffsetAndMetadata, OffsetRecord, StoredRecord
from wire.errors import ErrorCode, KafkaError

log = logging.getLogger(__name__)

E = ErrorCode


class GroupOffsets(ClassicRebalance):
    """Committed offsets: commit, fetch, delete, expire."""

    def commit_offsets(
        self,
        *,
        version: int,
        group_id: str,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
        retention_time_ms: int,
        partitions: list[tuple[str, int, int, int, str | None]],
    ) -> tuple[int, dict[tuple[str, int], int]]:
        """partitions: (topic, partition, offset, leader epoch, metadata). Returns (error for every partition,
        else 0; per-partition errors)."""
        error, group = self._lookup(group_id)
        if error:
            return error, {}
        if group is None:
            if generation_id >= 0:
                return (E.GROUP_ID_NOT_FOUND if version >= 9 else E.ILLEGAL_GENERATION), {}
            group = ClassicGroup(group_id)  # a "simple" group: offsets only, no membership
            self.groups[group_id] = group
            log.info("created simple group %s by a manual offset commit", group_id)
        if isinstance(group, ClassicGroup):
            error = self._validate_classic_commit(group, member_id, group_instance_id, generation_id)
            if error:
                return error, {}
            if group.is_in(ClassicState.STABLE, ClassicState.PREPARING_REBALANCE) and member_id in group.members:
                self._reschedule_heartbeat(group, group.members[member_id])
        else:
            error = self.consumer_groups.validate_commit(group, member_id, group_instance_id, generation_id, version)
            if error:
                return error, {}
        now = wall_ms()
        expire = None if retention_time_ms is None or retention_time_ms == -1 else now + retention_time_ms
        max_metadata = int(self.cfg("offset.metadata.max.bytes"))
        results: dict[tuple[str, int], int] = {}
        records: list[StoredRecord] = []
        for topic, partition, offset, leader_epoch, metadata in partitions:
            if metadata is not None and len(metadata) > max_metadata:
                results[(topic, partition)] = E.OFFSET_METADATA_TOO_LARGE
                continue
            value = OffsetAndMetadata(offset, leader_epoch, metadata or "", now, expire)
            records.append(OffsetRecord(group_id, topic, partition, value))
            results[(topic, partition)] = E.NONE
        try:
            self._append(group_id, records)
        except KafkaError as exc:
            for r in records:
                results[(r.topic, r.partition)] = exc.code  # type: ignore[union-attr]
            return E.NONE, results
        group_offsets = self.offsets.setdefault(group_id, {})
        for r in records:
            group_offsets[(r.topic, r.partition)] = r.value  # type: ignore[union-attr, assignment]
        return E.NONE, results

    def _validate_classic_commit(self, group: ClassicGroup, member_id: str, instance_id: str | None,
                                 generation_id: int, *, transactional: bool = False) -> int:
        """Kafka's validateOffsetCommit for a classic group; a transactional commit (TxnOffsetCommit) has no
        group-state requirement."""
        if group.is_in(ClassicState.DEAD):
            return E.COORDINATOR_NOT_AVAILABLE
        if generation_id < 0 and group.is_in(ClassicState.EMPTY):
            return E.NONE  # admin clients and consumers that assign partitions themselves
        if generation_id >= 0 or member_id or instance_id is not None:
            error = self._validate_member(group, member_id, instance_id)
            if error:
                return error
            if generation_id != group.generation_id:
                return E.ILLEGAL_GENERATION
        elif not transactional and not group.is_in(ClassicState.EMPTY):
            return E.UNKNOWN_MEMBER_ID
        if not transactional and group.is_in(ClassicState.COMPLETING_REBALANCE):
            return E.REBALANCE_IN_PROGRESS
        return E.NONE

    def validate_transactional_offset_commit(self, *, group_id: str, member_id: str, group_instance_id: str | None,
                                             generation_id: int) -> int:
        """The group checks of a TxnOffsetCommit (Kafka's validateOffsetCommit for a transactional commit: no
        state requirement, and a group that does not exist is fine with generation -1)."""
        error, group = self._lookup(group_id)
        if error:
            return error
        if group is None:
            if generation_id >= 0:
                return E.ILLEGAL_GENERATION
            self.groups[group_id] = ClassicGroup(group_id)  # Kafka creates the simple group here, not at commit
            return E.NONE
        if isinstance(group, ClassicGroup):
            return self._validate_classic_commit(group, member_id, group_instance_id, generation_id, transactional=True)
        error = self.consumer_groups.validate_commit(group, member_id, group_instance_id, generation_id, 9)
        return E.ILLEGAL_GENERATION if error == E.STALE_MEMBER_EPOCH else error

    def commit_transactional_offsets(self, group_id: str, offsets: dict[tuple[str, int], OffsetAndMetadata]) -> None:
        """Make the offsets of a committed transaction the group's committed offsets, durably (written again as
        plain records: replay skips transactional batches). KafkaError when they could not be stored."""
        error = self._ready()
        if error:
            raise KafkaError(ErrorCode(error), "the group coordinator is loading")
        self._append(group_id, [OffsetRecord(group_id, t, p, v) for (t, p), v in offsets.items()])
        self.offsets.setdefault(group_id, {}).update(offsets)
        if group_id not in self.groups:
            self.groups[group_id] = ClassicGroup(group_id)

    def _pending_transactional(self, group_id: str, topic: str, partition: int) -> bool:
        txn = getattr(self.broker, "transaction_coordinator", None) if self.broker is not None else None
        check = getattr(txn, "has_pending_offsets", None)
        return bool(check is not None and check(group_id, topic, partition))

    def fetch_offsets(
        self,
        group_id: str,
        topics: list[tuple[str, list[int]]] | None,
        *,
        member_id: str | None = None,
        member_epoch: int = -1,
        require_stable: bool = False,
    ) -> tuple[int, list[tuple[str, list[tuple[int, int, int, str, int]]]]]:
        """(group error, [(topic, [(partition, offset, leader epoch, metadata, error)])]); topics None: all."""
        error, group = self._lookup(group_id)
        if error:
            return error, []
        if group is not None and not isinstance(group, ClassicGroup):
            error = self.consumer_groups.validate_fetch(group, member_id, member_epoch)
            if error:
                return error, []
        dead = group is None or (isinstance(group, ClassicGroup) and group.is_in(ClassicState.DEAD))
        stored = {} if dead else self.offsets.get(group_id, {})
        out: list[tuple[str, list[tuple[int, int, int, str, int]]]] = []
        def row(topic: str, partition: int, value: OffsetAndMetadata | None) -> tuple[int, int, int, str, int]:
            if require_stable and self._pending_transactional(group_id, topic, partition):
                return (partition, -1, -1, "", int(E.UNSTABLE_OFFSET_COMMIT))
            if value is None:
                return (partition, -1, -1, "", 0)
            return (partition, value.offset, value.leader_epoch, value.metadata, 0)

        if topics is None:
            by_topic: dict[str, list[tuple[int, int, int, str, int]]] = {}
            for (topic, partition), value in sorted(stored.items()):
                by_topic.setdefault(topic, []).append(row(topic, partition, value))
            return E.NONE, list(by_topic.items())
        for topic, partitions in topics:
            out.append((topic, [row(topic, p, stored.get((topic, p))) for p in partitions]))
        return E.NONE, out

    def delete_offsets(self, group_id: str, topics: list[tuple[str, list[int]]]) -> tuple[int, list[tuple[str, list[tuple[int, int]]]]]:
        error, group = self._lookup(group_id)
        if error:
            return error, []
        if group is None:
            return E.GROUP_ID_NOT_FOUND, []
        if isinstance(group, ClassicGroup):
            if group.is_in(ClassicState.DEAD):
                return E.GROUP_ID_NOT_FOUND, []
            if not group.is_in(ClassicState.EMPTY) and group.protocol_type != CONSUMER_PROTOCOL_TYPE:
                return E.NON_EMPTY_GROUP, []
        stored = self.offsets.get(group_id, {})
        records: list[StoredRecord] = []
        out = []
        for topic, partitions in topics:
            if group.is_subscribed_to(topic):
                out.append((topic, [(p, int(E.GROUP_SUBSCRIBED_TO_TOPIC)) for p in partitions]))
                continue
            rows = []
            for p in partitions:
                rows.append((p, 0))
                if (topic, p) in stored:
                    records.append(OffsetRecord(group_id, topic, p, None))
            out.append((topic, rows))
        try:
            self._append(group_id, records)
        except KafkaError as exc:
            return exc.code, []
        self._forget_offsets(group_id, records)
        return E.NONE, out

    def _forget_offsets(self, group_id: str, records: list[StoredRecord]) -> int:
        """Take the offsets that stored tombstones removed out of memory too (and the group's entry once it has
        none left). Returns how many went."""
        stored = self.offsets.get(group_id, {})
        removed = 0
        for r in records:
            if isinstance(r, OffsetRecord):
                stored.pop((r.topic, r.partition), None)
                removed += 1
        if not stored:
            self.offsets.pop(group_id, None)
        return removed

    # -- offsets retention

    def _schedule_offsets_expiry(self) -> None:
        interval = max(int(self.cfg("offsets.retention.check.interval.ms")), 100)
        self.timer.schedule(("offsets-expiry",), interval, self._expire_offsets)

    def _expire_offsets(self) -> None:
        try:
            self.expire_offsets(wall_ms())
        finally:
            self._schedule_offsets_expiry()

    def expire_offsets(self, now_ms: int) -> int:
        """Drop committed offsets past offsets.retention.minutes (Kafka's rules), and the empty groups left
        with none. Returns the number of offsets removed."""
        retention_ms = int(self.cfg("offsets.retention.minutes")) * 60_000
        removed = 0
        for group_id in list(self.groups):
            group = self.groups[group_id]
            stored = self.offsets.get(group_id, {})
            base = self._expiry_base(group)
            all_expired = True
            records: list[StoredRecord] = []
            if stored:
                if base is None:
                    all_expired = False
                else:
                    for (topic, partition), value in stored.items():
                        if group.is_subscribed_to(topic):
                            all_expired = False
                            continue
                        if value.expire_timestamp_ms is not None:
                            expired = now_ms >= value.expire_timestamp_ms
                        else:
                            expired = now_ms - base(value) >= retention_ms
                        if expired:
                            records.append(OffsetRecord(group_id, topic, partition, None))
                        else:
                            all_expired = False
            delete_group = all_expired and (group.can_expire if isinstance(group, ClassicGroup) else group.is_empty)
            if delete_group:
                records.extend(self._group_tombstones(group))
            if not records and not delete_group:
                continue
            if self._try_append(group_id, records, "expire offsets of"):
                continue
            removed += self._forget_offsets(group_id, records)
            if delete_group:
                self._remove_group(group_id)
                log.info("group %s expired: it is empty and has no offsets left", group_id)
        return removed

    @staticmethod
    def _expiry_base(group: Any) -> Callable[[OffsetAndMetadata], int] | None:
        if isinstance(group, ClassicGroup):
            if group.protocol_type is None:
                return lambda v: v.commit_timestamp_ms
            if group.is_in(ClassicState.EMPTY):
                ts = group.state_timestamp_ms
                return (lambda v: ts) if ts is not None else (lambda v: v.commit_timestamp_ms)
            if (group.protocol_type == CONSUMER_PROTOCOL_TYPE and group.subscribed_topics is not None
                    and group.is_in(ClassicState.STABLE)):
                return lambda v: v.commit_timestamp_ms
            return None
        return lambda v: v.commit_timestamp_ms

    def on_topics_deleted(self, topics: Iterable[str]) -> int:
        """Drop the committed offsets of deleted topics (Kafka does so when partitions are deleted); the broker
        calls this after DeleteTopics. Returns how many offsets went."""
        if self._ready():
            return 0
        gone = set(topics)
        removed = 0
        for group_id, stored in list(self.offsets.items()):
            records: list[StoredRecord] = [OffsetRecord(group_id, t, p, None) for (t, p) in stored if t in gone]
            if not records:
                continue
            if self._try_append(group_id, records, "drop offsets of deleted topics for"):
                continue
            removed += self._forget_offsets(group_id, records)
        return removed
