"""What the group coordinator keeps in `__consumer_offsets`, in Kafka's own key/value layouts.

Keys start with an int16 version that names the record type: 0 and 1 an OffsetCommitKey (group, topic,
partition), 2 a GroupMetadataKey (group); KIP-848 consumer groups use 3 (group epoch), 5 (member metadata),
6 (target assignment epoch), 7 (a member's target assignment) and 8 (a member's current assignment), with
flexible v0 values. Other types (4: subscription metadata, which is recomputed from the topics) are skipped.
A null value is a tombstone. Values: OffsetCommitValue v0-4 (written as v3, or v1 when the commit carries an
explicit expiry as OffsetCommit v2-4 may ask) and GroupMetadataValue v0-4 (written as v3).

Also here: which partition of the topic holds a group (Kafka: abs(Java String.hashCode(group)) % partitions).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

OFFSETS_TOPIC = "__consumer_offsets"

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")


def java_string_hash(text: str) -> int:
    """Java's String.hashCode: 31*h + c over UTF-16 code units, as a signed 32-bit int."""
    h = 0
    data = text.encode("utf-16-be", "surrogatepass")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(key: str, partitions: int) -> int:
    """Where Kafka puts a group id or transactional id: Utils.abs(key.hashCode) % partitions (Utils.abs maps
    Integer.MIN_VALUE to 0)."""
    h = java_string_hash(key)
    return (0 if h == -(1 << 31) else abs(h)) % partitions


# ---------------------------------------------------------------------------------------------------------------
# domain values


@dataclass
class OffsetAndMetadata:
    offset: int
    leader_epoch: int = -1
    metadata: str = ""
    commit_timestamp_ms: int = -1
    expire_timestamp_ms: int | None = None  # only from OffsetCommit v2-4 with an explicit retention time


@dataclass
class MemberMetadata:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    subscription: bytes
    assignment: bytes


@dataclass
class GroupMetadata:
    protocol_type: str
    generation: int
    protocol: str | None
    leader: str | None
    current_state_timestamp_ms: int = -1
    members: list[MemberMetadata] = field(default_factory=list)


@dataclass
class OffsetRecord:
    """An offset commit (value) or its deletion (value None)."""

    group_id: str
    topic: str
    partition: int
    value: OffsetAndMetadata | None


@dataclass
class GroupRecord:
    """A classic group's metadata (value) or its deletion (value None)."""

    group_id: str
    value: GroupMetadata | None


CG_EPOCH, CG_MEMBER, CG_TARGET_EPOCH, CG_TARGET_MEMBER, CG_CURRENT = 3, 5, 6, 7, 8


@dataclass
class ConsumerGroupRecord:
    """One KIP-848 consumer group record: `kind` is its key version (CG_*), member_id is "" for the group-level
    kinds, value None is a tombstone. Values by kind: CG_EPOCH and CG_TARGET_EPOCH an int; CG_MEMBER a
    ConsumerMemberMetadata; CG_TARGET_MEMBER {topic id: partitions}; CG_CURRENT a CurrentAssignment."""

    kind: int
    group_id: str
    member_id: str
    value: object | None


@dataclass
class ConsumerMemberMetadata:
    instance_id: str | None
    rack_id: str | None
    client_id: str
    client_host: str
    subscribed_topic_names: list[str]
    subscribed_topic_regex: str | None
    rebalance_timeout_ms: int
    server_assignor: str | None


@dataclass
class CurrentAssignment:
    member_epoch: int
    previous_member_epoch: int
    state: int  # Kafka's MemberState byte: 0 stable, 1 unrevoked partitions, 2 unreleased partitions
    assigned: dict[bytes, set[int]]
    pending_revocation: dict[bytes, set[int]]


StoredRecord = OffsetRecord | GroupRecord | ConsumerGroupRecord


# ---------------------------------------------------------------------------------------------------------------
# encoding


class _Writer:
    def __init__(self) -> None:
        self.out = bytearray()

    def i16(self, v: int) -> "_Writer":
        self.out += _I16.pack(v)
        return self

    def i32(self, v: int) -> "_Writer":
        self.out += _I32.pack(v)
        return self

    def i64(self, v: int) -> "_Writer":
        self.out += _I64.pack(v)
        return self

    def string(self, v: str | None) -> "_Writer":
        if v is None:
            return self.i16(-1)
        data = v.encode("utf-8")
        self.i16(len(data))
        self.out += data
        return self

    def bytes_(self, v: bytes | None) -> "_Writer":
        if v is None:
            return self.i32(-1)
        self.i32(len(v))
        self.out += v
        return self


    # flexible (compact) forms
    def uvarint(self, v: int) -> "_Writer":
        while v > 0x7F:
            self.out.append((v & 0x7F) | 0x80)
            v >>= 7
        self.out.append(v)
        return self

    def cstring(self, v: str | None) -> "_Writer":
        if v is None:
            return self.uvarint(0)
        data = v.encode("utf-8")
        self.uvarint(len(data) + 1)
        self.out += data
        return self

    def no_tags(self) -> "_Writer":
        return self.uvarint(0)

    def topic_partitions(self, assignment: dict[bytes, set[int]]) -> "_Writer":
        items = [(tid, sorted(parts)) for tid, parts in sorted(assignment.items()) if parts]
        self.uvarint(len(items) + 1)
        for tid, parts in items:
            self.out += tid
            self.uvarint(len(parts) + 1)
            for p in parts:
                self.i32(p)
            self.no_tags()
        return self


def encode_key(record: StoredRecord) -> bytes:
    w = _Writer()
    if isinstance(record, OffsetRecord):
        w.i16(1).string(record.group_id).string(record.topic).i32(record.partition)
    elif isinstance(record, GroupRecord):
        w.i16(2).string(record.group_id)
    else:
        w.i16(record.kind).string(record.group_id)
        if record.kind in (CG_MEMBER, CG_TARGET_MEMBER, CG_CURRENT):
            w.string(record.member_id)
    return bytes(w.out)


def _encode_consumer_value(record: ConsumerGroupRecord) -> bytes:
    w = _Writer().i16(0)
    v = record.value
    if record.kind in (CG_EPOCH, CG_TARGET_EPOCH):
        w.i32(int(v))  # type: ignore[arg-type]
    elif record.kind == CG_MEMBER:
        assert isinstance(v, ConsumerMemberMetadata)
        w.cstring(v.instance_id).cstring(v.rack_id).cstring(v.client_id).cstring(v.client_host)
        w.uvarint(len(v.subscribed_topic_names) + 1)
        for name in v.subscribed_topic_names:
            w.cstring(name)
        w.cstring(v.subscribed_topic_regex).i32(v.rebalance_timeout_ms).cstring(v.server_assignor)
    elif record.kind == CG_TARGET_MEMBER:
        w.topic_partitions(v)  # type: ignore[arg-type]
    elif record.kind == CG_CURRENT:
        assert isinstance(v, CurrentAssignment)
        w.i32(v.member_epoch).i32(v.previous_member_epoch)
        w.out.append(v.state & 0xFF)
        w.topic_partitions(v.assigned).topic_partitions(v.pending_revocation)
    else:
        raise ValueError(f"unknown consumer group record kind {record.kind}")
    w.no_tags()
    return bytes(w.out)


def encode_value(record: StoredRecord) -> bytes | None:
    if record.value is None:
        return None
    if isinstance(record, ConsumerGroupRecord):
        return _encode_consumer_value(record)
    w = _Writer()
    if isinstance(record, OffsetRecord):
        v = record.value
        if v.expire_timestamp_ms is not None:
            w.i16(1).i64(v.offset).string(v.metadata).i64(v.commit_timestamp_ms).i64(v.expire_timestamp_ms)
        else:
            w.i16(3).i64(v.offset).i32(v.leader_epoch).string(v.metadata).i64(v.commit_timestamp_ms)
        return bytes(w.out)
    g = record.value
    w.i16(3).string(g.protocol_type).i32(g.generation).string(g.protocol).string(g.leader)
    w.i64(g.current_state_timestamp_ms).i32(len(g.members))
    for m in g.members:
        w.string(m.member_id).string(m.group_instance_id).string(m.client_id).string(m.client_host)
        w.i32(m.rebalance_timeout_ms).i32(m.session_timeout_ms).bytes_(m.subscription).bytes_(m.assignment)
    return bytes(w.out)


# ---------------------------------------------------------------------------------------------------------------
# decoding


class RecordFormatError(ValueError):
    pass


class _Reader:
    def __init__(self, data: bytes, flexible: bool = False) -> None:
        self.data = data
        self.pos = 0
        self.flexible = flexible

    def _take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise RecordFormatError("record runs past its end")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def uvarint(self) -> int:
        shift = result = 0
        while True:
            b = self._take(1)[0]
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result
            shift += 7
            if shift > 63:
                raise RecordFormatError("varint too long")

    def i16(self) -> int:
        return _I16.unpack(self._take(2))[0]

    def i32(self) -> int:
        return _I32.unpack(self._take(4))[0]

    def i64(self) -> int:
        return _I64.unpack(self._take(8))[0]

    def string(self) -> str | None:
        n = self.uvarint() - 1 if self.flexible else self.i16()
        if n < 0:
            return None
        return self._take(n).decode("utf-8")

    def bytes_(self) -> bytes | None:
        n = self.uvarint() - 1 if self.flexible else self.i32()
        if n < 0:
            return None
        return bytes(self._take(n))

    def array_len(self) -> int:
        return self.uvarint() - 1 if self.flexible else self.i32()

    def i8(self) -> int:
        return struct.unpack(">b", self._take(1))[0]

    def uuid(self) -> bytes:
        return bytes(self._take(16))

    def topic_partitions(self) -> dict[bytes, set[int]]:
        out: dict[bytes, set[int]] = {}
        for _ in range(max(self.array_len(), 0)):
            tid = self.uuid()
            parts = {self.i32() for _ in range(max(self.array_len(), 0))}
            self.tags()
            if parts:
                out[tid] = parts
        return out

    def tags(self) -> None:
        if self.flexible:
            for _ in range(self.uvarint()):
                self.uvarint()
                self._take(self.uvarint())


def decode(key: bytes | None, value: bytes | None) -> StoredRecord | None:
    """The record a key/value pair holds; None for record types this coordinator does not keep."""
    if key is None or len(key) < 2:
        return None
    r = _Reader(bytes(key))
    version = r.i16()
    if version in (0, 1):
        group, topic, partition = r.string() or "", r.string() or "", r.i32()
        return OffsetRecord(group, topic, partition, None if value is None else _offset_value(bytes(value)))
    if version == 2:
        group = r.string() or ""
        return GroupRecord(group, None if value is None else _group_value(bytes(value)))
    if version in (CG_EPOCH, CG_TARGET_EPOCH):
        group = r.string() or ""
        return ConsumerGroupRecord(version, group, "", None if value is None else _consumer_value(version, bytes(value)))
    if version in (CG_MEMBER, CG_TARGET_MEMBER, CG_CURRENT):
        group, member = r.string() or "", r.string() or ""
        return ConsumerGroupRecord(version, group, member,
                                   None if value is None else _consumer_value(version, bytes(value)))
    return None


def _consumer_value(kind: int, data: bytes) -> object:
    r = _Reader(data[2:], flexible=True)
    if kind in (CG_EPOCH, CG_TARGET_EPOCH):
        return r.i32()
    if kind == CG_MEMBER:
        instance, rack, client_id, client_host = r.string(), r.string(), r.string() or "", r.string() or ""
        names = [r.string() or "" for _ in range(max(r.array_len(), 0))]
        regex, rebalance, assignor = r.string(), r.i32(), r.string()
        return ConsumerMemberMetadata(instance, rack, client_id, client_host, names, regex, rebalance, assignor)
    if kind == CG_TARGET_MEMBER:
        return r.topic_partitions()
    epoch, previous, state = r.i32(), r.i32(), r.i8()
    return CurrentAssignment(epoch, previous, state, r.topic_partitions(), r.topic_partitions())


def _offset_value(data: bytes) -> OffsetAndMetadata:
    version = _I16.unpack_from(data)[0]
    r = _Reader(data[2:], flexible=version >= 4)
    offset = r.i64()
    leader_epoch = r.i32() if version >= 3 else -1
    metadata = r.string() or ""
    commit_ts = r.i64()
    expire = r.i64() if version == 1 else None
    return OffsetAndMetadata(offset, leader_epoch, metadata, commit_ts, None if expire in (None, -1) else expire)


def _group_value(data: bytes) -> GroupMetadata:
    version = _I16.unpack_from(data)[0]
    r = _Reader(data[2:], flexible=version >= 4)
    protocol_type = r.string() or ""
    generation = r.i32()
    protocol = r.string()
    leader = r.string()
    state_ts = r.i64() if version >= 2 else -1
    members = []
    for _ in range(max(r.array_len(), 0)):
        member_id = r.string() or ""
        instance = r.string() if version >= 3 else None
        client_id = r.string() or ""
        client_host = r.string() or ""
        rebalance = r.i32() if version >= 1 else -1
        session = r.i32()
        subscription = r.bytes_() or b""
        assignment = r.bytes_() or b""
        r.tags()
        if rebalance < 0:
            rebalance = session
        members.append(MemberMetadata(member_id, instance, client_id, client_host, rebalance, session,
                                      subscription, assignment))
    return GroupMetadata(protocol_type, generation, protocol, leader, state_ts, members)
