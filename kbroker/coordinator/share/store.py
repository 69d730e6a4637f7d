"""`__share_group_state`: where share-partition state survives a restart, as Kafka's share coordinator keeps it.

Each change of a share-partition is written as a ShareSnapshot record (key version 0: group id, topic id,
partition; value version 0, flexible: snapshot epoch, state epoch, leader epoch, start offset, state batches) to
the partition of the compacted topic that owns the key (abs(hashCode("group:topic id:partition")) % partitions),
so compaction keeps the latest snapshot of each. A null value (tombstone) forgets the share-partition. At start
the coordinator replays every partition of the topic, later records winning. Kafka also writes ShareUpdate
deltas between snapshots (key version 1); kbroker writes whole snapshots only and skips those.
"""
from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Protocol

from kbroker.coordinator.log_reader import read_records
from kbroker.coordinator.records import partition_for
from kbroker.coordinator.share.partition_state import StateBatch
from wire import records as rec
from wire.errors import ErrorCode, KafkaError

if TYPE_CHECKING:
    from kbroker.broker import Broker

log = logging.getLogger(__name__)

STATE_TOPIC = "__share_group_state"
_KEY = struct.Struct(">h")
_BATCH = struct.Struct(">qqbh")


@dataclass
class ShareStateRecord:
    """One share-partition's snapshot, or (snapshot None) its deletion."""

    group_id: str
    topic_id: bytes
    partition: int
    start_offset: int = -1
    state_epoch: int = 0
    leader_epoch: int = 0
    batches: tuple[StateBatch, ...] | None = ()
    snapshot_epoch: int = 0
    deleted: bool = False


# -- codec


def _uvarint(out: bytearray, v: int) -> None:
    while v > 0x7F:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def encode_key(r: ShareStateRecord) -> bytes:
    group = r.group_id.encode()
    return _KEY.pack(0) + struct.pack(">h", len(group)) + group + r.topic_id + struct.pack(">i", r.partition)


def encode_value(r: ShareStateRecord) -> bytes | None:
    if r.deleted:
        return None
    out = bytearray(struct.pack(">hHiiq", 0, r.snapshot_epoch & 0xFFFF, r.state_epoch, r.leader_epoch, r.start_offset))
    batches = r.batches or ()
    _uvarint(out, len(batches) + 1)
    for b in batches:
        out += _BATCH.pack(b.first_offset, b.last_offset, b.state, b.delivery_count)
        out.append(0)  # no tagged fields
    out.append(0)
    return bytes(out)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ValueError("truncated share state record")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def uvarint(self) -> int:
        shift = value = 0
        while True:
            if self.pos >= len(self.data) or shift > 28:
                raise ValueError("bad varint")
            b = self.data[self.pos]
            self.pos += 1
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7

    def skip_tags(self) -> None:
        for _ in range(self.uvarint()):
            self.uvarint()
            self.pos += self.uvarint()


def decode(key: bytes | None, value: bytes | None) -> ShareStateRecord | None:
    """A stored record, or None for a key this module does not know (ValueError for an unreadable one)."""
    if key is None or len(key) < 2:
        return None
    r = _Reader(key)
    (version,) = r.take(">h")
    if version != 0:  # ShareUpdate deltas (version 1): kbroker never writes them
        return None
    (size,) = r.take(">h")
    group = bytes(r.take(f">{size}s")[0]).decode()
    (topic_id,) = r.take(">16s")
    (partition,) = r.take(">i")
    if value is None:
        return ShareStateRecord(group, topic_id, partition, deleted=True)
    v = _Reader(value)
    v.take(">h")
    snapshot_epoch, state_epoch, leader_epoch, start = v.take(">Hiiq")
    batches = []
    for _ in range(max(0, v.uvarint() - 1)):
        first, last, state, count = v.take(">qqbh")
        v.skip_tags()
        batches.append(StateBatch(first, last, state, count))
    return ShareStateRecord(group, topic_id, partition, start, state_epoch, leader_epoch, tuple(batches),
                            snapshot_epoch)


# -- stores


class ShareStateStore(Protocol):
    def replay(self) -> Iterator[ShareStateRecord]:
        ...

    def append(self, record: ShareStateRecord, now_ms: int) -> None:
        ...


class MemoryShareStateStore:
    def __init__(self) -> None:
        self.records: list[ShareStateRecord] = []

    def replay(self) -> Iterator[ShareStateRecord]:
        return iter(list(self.records))

    def append(self, record: ShareStateRecord, now_ms: int) -> None:
        self.records.append(record)


class LogShareStateStore:
    """`__share_group_state` in the broker's own partition logs."""

    def __init__(self, broker: "Broker") -> None:
        self.broker = broker

    def _partitions(self) -> int:
        cfg = self.broker.config
        wanted = int(cfg.get("share.coordinator.state.topic.num.partitions", 50) or 50)
        segment = str(cfg.get("share.coordinator.state.topic.segment.bytes", 104857600) or 104857600)
        return self.broker.ensure_internal_topic(STATE_TOPIC, wanted, {"segment.bytes": segment})

    def append(self, record: ShareStateRecord, now_ms: int) -> None:
        count = self._partitions()
        key = f"{record.group_id}:{record.topic_id.hex()}:{record.partition}"
        index = partition_for(key, count)
        partition = self.broker.partition(STATE_TOPIC, index)
        if partition is None:
            raise KafkaError(ErrorCode.COORDINATOR_NOT_AVAILABLE, f"{STATE_TOPIC}-{index} is not available")
        batch = rec.build_batch([rec.Record(0, 0, encode_key(record), encode_value(record))], base_timestamp=now_ms)
        try:
            partition.append_coordinator_batch(batch, now_ms=now_ms)
        except KafkaError:
            raise
        except Exception as exc:  # a storage failure: the client retries
            log.exception("writing share state of %s to %s-%d failed", record.group_id, STATE_TOPIC, index)
            raise KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, str(exc)) from exc

    def replay(self) -> Iterator[ShareStateRecord]:
        info = self.broker.topic(STATE_TOPIC)
        if info is None:
            return
        for index in range(info.partitions):
            partition = self.broker.partition(STATE_TOPIC, index)
            if partition is not None:
                yield from self._replay_partition(partition, index)

    def _replay_partition(self, partition, index: int) -> Iterator[ShareStateRecord]:  # type: ignore[no-untyped-def]
        plog = partition.log
        for record in read_records(plog, plog.log_start_offset, lambda header, _offset: header.is_control,
                                   f"{STATE_TOPIC}-{index}"):
            try:
                stored = decode(record.key, record.value)
            except (ValueError, UnicodeDecodeError) as exc:
                log.warning("skipping an unreadable record of %s-%d: %s", STATE_TOPIC, index, exc)
                continue
            if stored is not None:
                yield stored
