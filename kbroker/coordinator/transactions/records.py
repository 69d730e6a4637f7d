"""What the transaction coordinator keeps in `__transaction_state`: Kafka's TransactionLog key and value records.

Key (version 0): transactional id. Value (version 0, the non-flexible one Kafka writes below transaction.version
1): producerId int64, producerEpoch int16, transactionTimeoutMs int32, transactionStatus int8, partitions
(nullable array of {topic string, partitionIds []int32}; null when Empty), lastUpdateTimestampMs int64,
startTimestampMs int64. A null value is a tombstone (the transactional id expired). Version 1 values (flexible,
with tagged previous/next producer id and client transaction version) are read as well.

The partition of a transactional id is Kafka's: abs(Java String.hashCode(id)) % partitions.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass


TRANSACTION_STATE_TOPIC = "__transaction_state"

_I8 = struct.Struct(">b")
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")


class TxnRecordError(ValueError):
    pass


@dataclass
class TxnLogValue:
    producer_id: int
    producer_epoch: int
    timeout_ms: int
    status: int
    partitions: dict[str, list[int]] | None
    last_update_ms: int
    start_ms: int
    previous_producer_id: int = -1


def encode_key(transactional_id: str) -> bytes:
    data = transactional_id.encode("utf-8")
    return _I16.pack(0) + _I16.pack(len(data)) + data


def encode_value(value: TxnLogValue) -> bytes:
    out = bytearray()
    out += _I16.pack(0)
    out += _I64.pack(value.producer_id)
    out += _I16.pack(value.producer_epoch)
    out += _I32.pack(value.timeout_ms)
    out += _I8.pack(value.status)
    if value.partitions is None:
        out += _I32.pack(-1)
    else:
        out += _I32.pack(len(value.partitions))
        for topic, ids in value.partitions.items():
            name = topic.encode("utf-8")
            out += _I16.pack(len(name)) + name
            out += _I32.pack(len(ids))
            for p in ids:
                out += _I32.pack(p)
    out += _I64.pack(value.last_update_ms)
    out += _I64.pack(value.start_ms)
    return bytes(out)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, s: struct.Struct) -> int:
        if self.pos + s.size > len(self.data):
            raise TxnRecordError("record too short")
        (v,) = s.unpack_from(self.data, self.pos)
        self.pos += s.size
        return v

    def i8(self) -> int:
        return self._take(_I8)

    def i16(self) -> int:
        return self._take(_I16)

    def i32(self) -> int:
        return self._take(_I32)

    def i64(self) -> int:
        return self._take(_I64)

    def uvarint(self) -> int:
        shift = result = 0
        while True:
            if self.pos >= len(self.data):
                raise TxnRecordError("varint runs past the end")
            b = self.data[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result
            shift += 7
            if shift > 35:
                raise TxnRecordError("varint too long")

    def raw(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise TxnRecordError("field runs past the end")
        v = self.data[self.pos : self.pos + n]
        self.pos += n
        return bytes(v)

    def string(self, compact: bool) -> str:
        n = self.uvarint() - 1 if compact else self.i16()
        if n < 0:
            raise TxnRecordError("null string")
        return self.raw(n).decode("utf-8")

    def array_len(self, compact: bool) -> int:
        return self.uvarint() - 1 if compact else self.i32()

    def tags(self) -> dict[int, bytes]:
        out = {}
        for _ in range(self.uvarint()):
            tag = self.uvarint()
            out[tag] = self.raw(self.uvarint())
        return out


def decode_key(data: bytes | None) -> str | None:
    """The transactional id of a key; None for a key version this broker does not know."""
    if data is None:
        raise TxnRecordError("record without a key")
    r = _Reader(data)
    if r.i16() != 0:
        return None
    return r.string(False)


def decode_value(data: bytes | None) -> TxnLogValue | None:
    """None for a tombstone."""
    if data is None:
        return None
    r = _Reader(data)
    version = r.i16()
    if version not in (0, 1):
        raise TxnRecordError(f"unknown transaction log value version {version}")
    compact = version >= 1
    pid = r.i64()
    epoch = r.i16()
    timeout = r.i32()
    status = r.i8()
    count = r.array_len(compact)
    partitions: dict[str, list[int]] | None = None
    if count >= 0:
        partitions = {}
        for _ in range(count):
            topic = r.string(compact)
            ids = [r.i32() for _ in range(r.array_len(compact))]
            if compact:
                r.tags()
            partitions.setdefault(topic, []).extend(ids)
    last_update = r.i64()
    start = r.i64()
    previous = -1
    if compact:
        tags = r.tags()
        if 0 in tags and len(tags[0]) == 8:
            previous = _I64.unpack(tags[0])[0]
    return TxnLogValue(pid, epoch, timeout, status, partitions, last_update, start, previous)
