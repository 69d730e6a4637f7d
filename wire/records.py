"""Record batches, magic v2: header parsing, CRC-32C, offsets rewritten in place, records built and decoded.

The broker works at batch level: it validates a batch's header and CRC (`validate_produce_batches`) and
rewrites its base offset and leader epoch (neither is under the CRC), and never needs to touch the records
themselves on the produce or fetch path. Records are encoded and decoded (`build_batch`, `decode_records`)
where the broker writes batches of its own (control markers, internal topics) or reads them (coordinators,
down-conversion for old clients, tests).

Batch layout (61-byte header, big-endian): baseOffset int64, batchLength int32, partitionLeaderEpoch int32,
magic int8, crc uint32 (CRC-32C of everything after it), attributes int16, lastOffsetDelta int32,
baseTimestamp int64, maxTimestamp int64, producerId int64, producerEpoch int16, baseSequence int32,
recordCount int32; then the records, compressed as a whole when the codec bits say so.

Record layout: length varint, attributes int8, timestampDelta varlong, offsetDelta varint, keyLength varint +
key, valueLength varint + value, header count varint, each header: keyLength varint + UTF-8 key,
valueLength varint + value. Varints are zig-zag encoded (protobuf's sint32/sint64); length -1 means null.

Errors and the Kafka error code each maps to (`.code` on the class):
- CorruptRecordError -> CORRUPT_MESSAGE (2): the bytes are not what the sender sealed: framing, CRC.
- InvalidRecordError -> INVALID_RECORD (87): well framed and CRC-sound, but not acceptable (control batch
  from a client, counts that disagree, bad records inside a batch, undecompressable data).
- UnsupportedCompressionTypeError (an InvalidRecordError) -> UNSUPPORTED_COMPRESSION_TYPE (76): codec id
  5-7. (Kafka itself fails on such ids with an unchecked exception; 76 is the honest answer.)
"""
from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

import crc32c

from wire.errors import ErrorCode

# baseOffset, batchLength, partitionLeaderEpoch, magic, crc, attributes, lastOffsetDelta,
# baseTimestamp, maxTimestamp, producerId, producerEpoch, baseSequence, recordCount
_HEADER = struct.Struct(">qiibIhiqqqhii")
HEADER_SIZE = _HEADER.size  # 61
LOG_OVERHEAD = 12  # baseOffset + batchLength: the part of a batch not counted in batchLength
_CRC_START = 21  # bytes before the CRC-covered part: offset(8) length(4) epoch(4) magic(1) crc(4)
_MAGIC_POS = 16
_CRC_POS = 17
_ATTRIBUTES_POS = 21
_MAX_TIMESTAMP_POS = 35
_EPOCH = struct.Struct(">i")
_OFFSET = struct.Struct(">q")
_CRC = struct.Struct(">I")
_ATTRIBUTES = struct.Struct(">h")
_TIMESTAMP = struct.Struct(">q")

COMPRESSION_MASK = 0x07
TIMESTAMP_TYPE_BIT = 0x08
TRANSACTIONAL_BIT = 0x10
CONTROL_BIT = 0x20

NO_PRODUCER_ID = -1
NO_SEQUENCE = -1
NO_TIMESTAMP = -1
MAX_CODEC = 4  # zstd

CONTROL_ABORT = 0
CONTROL_COMMIT = 1

MIN_RECORD_SIZE = 7  # length, attributes, timestampDelta, offsetDelta, keyLength, valueLength, headerCount


class CorruptRecordError(ValueError):
    """A batch whose framing or CRC is wrong (Kafka: CORRUPT_MESSAGE)."""

    code = ErrorCode.CORRUPT_MESSAGE


class InvalidRecordError(ValueError):
    """A well-framed batch the broker must refuse (Kafka: INVALID_RECORD and friends)."""

    code = ErrorCode.INVALID_RECORD


class UnsupportedCompressionTypeError(InvalidRecordError):
    """A compression codec id this broker (and Kafka) does not know (Kafka: UNSUPPORTED_COMPRESSION_TYPE)."""

    code = ErrorCode.UNSUPPORTED_COMPRESSION_TYPE


@dataclass(slots=True)
class BatchHeader:
    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    record_count: int

    @property
    def size(self) -> int:
        """Bytes of the whole batch on the wire and on disk."""
        return self.batch_length + LOG_OVERHEAD

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def compression(self) -> int:
        return self.attributes & COMPRESSION_MASK

    @property
    def is_log_append_time(self) -> bool:
        return bool(self.attributes & TIMESTAMP_TYPE_BIT)

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_BIT)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_BIT)

    @property
    def last_sequence(self) -> int:
        if self.base_sequence == NO_SEQUENCE:
            return NO_SEQUENCE
        return (self.base_sequence + self.last_offset_delta) & 0x7FFFFFFF


def magic_at(buf: bytes | bytearray | memoryview, pos: int = 0) -> int:
    """The magic byte of the batch (or legacy message) starting at pos; the same place in every format."""
    if len(buf) - pos <= _MAGIC_POS:
        raise CorruptRecordError("data too short to hold a magic byte")
    return buf[pos + _MAGIC_POS]


def parse_header(buf: bytes | bytearray | memoryview, pos: int = 0) -> BatchHeader:
    if len(buf) - pos < HEADER_SIZE:
        raise CorruptRecordError("batch shorter than its header")
    return BatchHeader(*_HEADER.unpack_from(buf, pos))


def crc_ok(buf: bytes | bytearray | memoryview, pos: int, header: BatchHeader) -> bool:
    end = pos + header.size
    if end > len(buf):
        return False
    return crc32c.crc32c(memoryview(buf)[pos + _CRC_START : end]) == header.crc


def iter_batches(buf: bytes | bytearray | memoryview, *, check_crc: bool = False) -> Iterator[tuple[int, BatchHeader]]:
    """(position, header) of each v2 batch in buf, which must hold whole batches and nothing else."""
    pos = 0
    end = len(buf)
    while pos < end:
        header = parse_header(buf, pos)
        if header.magic != 2:
            raise CorruptRecordError(f"magic {header.magic} where a v2 batch was expected")
        if header.batch_length < HEADER_SIZE - LOG_OVERHEAD or pos + header.size > end:
            raise CorruptRecordError("batch length does not fit the data")
        if check_crc and not crc_ok(buf, pos, header):
            raise CorruptRecordError("batch CRC mismatch")
        yield pos, header
        pos += header.size


def set_base_offset(buf: bytearray | memoryview, pos: int, offset: int) -> None:
    _OFFSET.pack_into(buf, pos, offset)


def set_partition_leader_epoch(buf: bytearray | memoryview, pos: int, epoch: int) -> None:
    _EPOCH.pack_into(buf, pos + 12, epoch)


def _rewrite_timestamp_fields(buf: bytearray | memoryview, pos: int, attributes: int, max_timestamp: int) -> None:
    header = parse_header(buf, pos)
    if pos + header.size > len(buf) or header.batch_length < HEADER_SIZE - LOG_OVERHEAD:
        raise CorruptRecordError("batch length does not fit the data")
    if header.attributes == attributes and header.max_timestamp == max_timestamp:
        return
    _ATTRIBUTES.pack_into(buf, pos + _ATTRIBUTES_POS, attributes)
    _TIMESTAMP.pack_into(buf, pos + _MAX_TIMESTAMP_POS, max_timestamp)
    _CRC.pack_into(buf, pos + _CRC_POS, crc32c.crc32c(memoryview(buf)[pos + _CRC_START : pos + header.size]))


def set_attributes(buf: bytearray | memoryview, pos: int, attributes: int) -> None:
    """Replace the attributes of the batch at pos (e.g. the cleaner's delete-horizon flag), recomputing its CRC."""
    _rewrite_timestamp_fields(buf, pos, attributes, parse_header(buf, pos).max_timestamp)


def set_log_append_time(buf: bytearray | memoryview, pos: int, timestamp: int) -> None:
    """Mark the batch at pos as LogAppendTime with maxTimestamp = timestamp, recomputing its CRC in place.

    As Kafka does, baseTimestamp and the records are left alone: readers of a LogAppendTime batch take
    maxTimestamp as the timestamp of every record in it.
    """
    attributes = _ATTRIBUTES.unpack_from(buf, pos + _ATTRIBUTES_POS)[0] if len(buf) - pos >= HEADER_SIZE else 0
    _rewrite_timestamp_fields(buf, pos, attributes | TIMESTAMP_TYPE_BIT, timestamp)


def set_max_timestamp(buf: bytearray | memoryview, pos: int, timestamp: int) -> None:
    """Set maxTimestamp of the (CreateTime) batch at pos, recomputing its CRC in place.

    Kafka recomputes maxTimestamp from the records of every CreateTime batch it appends; sarama 1.22 sends
    maxTimestamp -1. With wire.record_timestamps.records_max_timestamp this puts the right value in.
    """
    attributes = _ATTRIBUTES.unpack_from(buf, pos + _ATTRIBUTES_POS)[0] if len(buf) - pos >= HEADER_SIZE else 0
    _rewrite_timestamp_fields(buf, pos, attributes & ~TIMESTAMP_TYPE_BIT, timestamp)


def validate_produce_batches(records: bytes | bytearray | memoryview) -> list[tuple[int, BatchHeader]]:
    """Check the record batches of one partition of a Produce request (v3+) as Kafka's broker does before
    appending, from headers and CRC only (no decompression, no per-record work); (position, header) of each.

    Raises
    - CorruptRecordError (CORRUPT_MESSAGE, 2): data shorter than a header, batchLength that does not fit the
      data (including trailing bytes that are not a whole batch), CRC-32C mismatch.
    - InvalidRecordError (INVALID_RECORD, 87): no batch at all; magic other than 2 (Produce v3+ carries only
      v2 batches: Kafka's message); recordCount < 1; lastOffsetDelta + 1 != recordCount; a control batch (only
      the broker writes those); a producer id without a base sequence (Kafka's check); a transactional batch
      without a producer id; an uncompressed batch too short for its recordCount (records are >= 7 bytes).
    - UnsupportedCompressionTypeError (UNSUPPORTED_COMPRESSION_TYPE, 76): codec id 5-7.

    Not checked here, because they depend on the request or on config: Kafka's "exactly one batch per
    partition" rule for Produce v3+ (len(result) != 1 -> INVALID_RECORD), zstd with Produce < v7
    (UNSUPPORTED_COMPRESSION_TYPE), message.max.bytes (MESSAGE_TOO_LARGE), timestamp bounds
    (INVALID_TIMESTAMP), idempotence sequence checks. maxTimestamp is not checked either: sarama 1.22 sends -1
    there (Kafka recomputes it from the records; see wire.record_timestamps and `set_max_timestamp`).

    A base sequence without a producer id (producerId -1, baseSequence 0) is accepted, as Kafka accepts it:
    aiokafka, kafkajs, platformatic and sarama send exactly that from non-idempotent producers.
    """
    view = memoryview(records)
    end = len(view)
    if end == 0:
        raise InvalidRecordError("no record batch")
    out: list[tuple[int, BatchHeader]] = []
    pos = 0
    min_length = HEADER_SIZE - LOG_OVERHEAD
    while pos < end:
        if end - pos < HEADER_SIZE:
            if end - pos > _MAGIC_POS and view[pos + _MAGIC_POS] != 2:
                raise InvalidRecordError(f"magic {view[pos + _MAGIC_POS]}: only v2 batches are accepted")
            raise CorruptRecordError("trailing bytes shorter than a batch header")
        h = BatchHeader(*_HEADER.unpack_from(view, pos))
        if h.magic != 2:
            raise InvalidRecordError(f"magic {h.magic}: only v2 batches are accepted")
        size = h.batch_length + LOG_OVERHEAD
        if h.batch_length < min_length or size > end - pos:
            raise CorruptRecordError("batch length does not fit the data")
        if crc32c.crc32c(view[pos + _CRC_START : pos + size]) != h.crc:
            raise CorruptRecordError("batch CRC mismatch")
        attributes = h.attributes
        codec = attributes & COMPRESSION_MASK
        if codec > MAX_CODEC:
            raise UnsupportedCompressionTypeError(f"unknown compression codec {codec}")
        if attributes & CONTROL_BIT:
            raise InvalidRecordError("clients may not write control batches")
        count = h.record_count
        if count < 1:
            raise InvalidRecordError(f"invalid record count {count}")
        if h.last_offset_delta + 1 != count:
            raise InvalidRecordError(f"lastOffsetDelta {h.last_offset_delta} disagrees with record count {count}")
        if codec == 0 and count > (size - HEADER_SIZE) // MIN_RECORD_SIZE:
            raise InvalidRecordError(f"{size - HEADER_SIZE} bytes cannot hold {count} records")
        if h.producer_id >= 0:
            if h.base_sequence < 0:
                raise InvalidRecordError(f"producer id {h.producer_id} with base sequence {h.base_sequence}")
        elif attributes & TRANSACTIONAL_BIT:
            raise InvalidRecordError("transactional batch without a producer id")
        out.append((pos, h))
        pos += size
    return out


# ---------------------------------------------------------------------------------------------------------------
# records


@dataclass(slots=True)
class Record:
    """One record of a v2 batch; offset and timestamp are deltas from the batch's base ones."""

    offset_delta: int
    timestamp_delta: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)
    attributes: int = 0


def write_varint(out: bytearray, value: int) -> None:
    """Append value zig-zag varint encoded (int32 and int64 alike)."""
    z = (value << 1) ^ (value >> 63)
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)


def read_varint(buf: bytes | bytearray | memoryview, pos: int) -> tuple[int, int]:
    """(value, next position) of the zig-zag varint (at most 10 bytes) at pos; InvalidRecordError if malformed."""
    result = 0
    shift = 0
    end = len(buf)
    while True:
        if pos >= end:
            raise InvalidRecordError("varint runs past the end of the data")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7
        if shift >= 70:
            raise InvalidRecordError("varint longer than 10 bytes")


def _write_blob(out: bytearray, data: bytes | None) -> None:
    if data is None:
        out.append(1)  # zig-zag -1
    else:
        write_varint(out, len(data))
        out += data


def encode_record(out: bytearray, record: Record) -> None:
    """Append one record (with its length prefix) to out."""
    body = bytearray()
    body.append(record.attributes & 0xFF)
    write_varint(body, record.timestamp_delta)
    write_varint(body, record.offset_delta)
    _write_blob(body, record.key)
    _write_blob(body, record.value)
    write_varint(body, len(record.headers))
    for hkey, hvalue in record.headers:
        encoded = hkey.encode("utf-8", "surrogateescape")
        write_varint(body, len(encoded))
        body += encoded
        _write_blob(body, hvalue)
    write_varint(out, len(body))
    out += body


def _read_blob(buf: bytes | memoryview, pos: int, end: int) -> tuple[bytes | None, int]:
    n, pos = read_varint(buf, pos)
    if n < 0:  # Kafka reads any negative length as null
        return None, pos
    if pos + n > end:
        raise InvalidRecordError("record field runs past the end of the record")
    return bytes(buf[pos : pos + n]), pos + n


def _decode_one(buf: bytes | memoryview, pos: int) -> tuple[Record, int]:
    length, pos = read_varint(buf, pos)
    end = pos + length
    if length < MIN_RECORD_SIZE - 1 or end > len(buf):
        raise InvalidRecordError(f"record length {length} does not fit the data")
    attributes = buf[pos]
    timestamp_delta, p = read_varint(buf, pos + 1)
    offset_delta, p = read_varint(buf, p)
    key, p = _read_blob(buf, p, end)
    value, p = _read_blob(buf, p, end)
    count, p = read_varint(buf, p)
    if count < 0:
        raise InvalidRecordError(f"negative header count {count}")
    headers: list[tuple[str, bytes | None]] = []
    for _ in range(count):
        klen, p = read_varint(buf, p)
        if klen < 0 or p + klen > end:
            raise InvalidRecordError("bad header key length")
        hkey = bytes(buf[p : p + klen]).decode("utf-8", "surrogateescape")
        p += klen
        hvalue, p = _read_blob(buf, p, end)
        headers.append((hkey, hvalue))
    if p != end:
        raise InvalidRecordError(f"record declares {length} bytes but holds {length - (end - p)}")
    return Record(offset_delta, timestamp_delta, key, value, headers, attributes), end


def _records_section(batch: bytes | bytearray | memoryview, pos: int, verify_crc: bool, max_size: int | None) -> tuple[BatchHeader, bytes | memoryview]:
    header = parse_header(batch, pos)
    if header.magic != 2:
        raise CorruptRecordError(f"magic {header.magic} where a v2 batch was expected")
    if header.batch_length < HEADER_SIZE - LOG_OVERHEAD or pos + header.size > len(batch):
        raise CorruptRecordError("batch length does not fit the data")
    if verify_crc and not crc_ok(batch, pos, header):
        raise CorruptRecordError("batch CRC mismatch")
    data: bytes | memoryview = memoryview(batch)[pos + HEADER_SIZE : pos + header.size]
    if header.compression:
        from wire import compression

        kwargs = {} if max_size is None else {"max_size": max_size}
        data = compression.decompress(header.compression, data, **kwargs)
    return header, data


def records_data(batch: bytes | bytearray | memoryview, pos: int = 0) -> tuple[BatchHeader, bytes | memoryview]:
    """The header of the batch at pos and its records' bytes, decompressed (no CRC check: the caller did it)."""
    return _records_section(batch, pos, False, None)


def iter_records(
    batch: bytes | bytearray | memoryview, pos: int = 0, *, verify_crc: bool = True, max_size: int | None = None
) -> Iterator[Record]:
    """The records of the one batch at pos, decompressed as needed (max_size caps the decompressed size)."""
    header, data = _records_section(batch, pos, verify_crc, max_size)
    if header.record_count < 0:
        raise InvalidRecordError(f"negative record count {header.record_count}")
    p = 0
    for _ in range(header.record_count):
        if p >= len(data):
            raise InvalidRecordError(f"batch declares {header.record_count} records but holds fewer")
        record, p = _decode_one(data, p)
        yield record
    if p != len(data):
        raise InvalidRecordError("bytes left over after the last record of the batch")


def decode_records(batch: bytes | bytearray | memoryview, *, verify_crc: bool = True, max_size: int | None = None) -> list[Record]:
    """All records of one whole batch (the bytes from its base offset to its end), decompressing as needed.

    CorruptRecordError for bad framing or CRC, InvalidRecordError for records that do not parse or do not
    match the batch's record count, or data that does not decompress.
    """
    return list(iter_records(batch, 0, verify_crc=verify_crc, max_size=max_size))


def decode_batch(batch: bytes | bytearray | memoryview, pos: int = 0, *, verify_crc: bool = True) -> tuple[BatchHeader, list[Record]]:
    """(header, records) of the batch at pos."""
    return parse_header(batch, pos), list(iter_records(batch, pos, verify_crc=verify_crc))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def build_batch(
    records: Iterable[Record],
    *,
    base_offset: int = 0,
    compression: int = 0,
    timestamp_type_log_append: bool = False,
    base_timestamp: int | None = None,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = -1,
    base_sequence: int = NO_SEQUENCE,
    transactional: bool = False,
    control: bool = False,
    partition_leader_epoch: int = -1,
    last_offset_delta: int | None = None,
    max_timestamp: int | None = None,
    compression_level: int | None = None,
) -> bytes:
    """One v2 batch holding records, with lastOffsetDelta, maxTimestamp and CRC-32C computed (compressed at
    compression_level, None: the codec's Kafka default).

    base_timestamp defaults to now (ms). lastOffsetDelta defaults to the largest offset delta (0 for no
    records) and maxTimestamp to base_timestamp + the largest timestamp delta (-1 for no records); both can be
    given, for batches that must keep them while losing records (compaction) and for tests.
    """
    records = list(records)
    if base_timestamp is None:
        base_timestamp = _now_ms()
    body = bytearray()
    for record in records:
        encode_record(body, record)
    if last_offset_delta is None:
        last_offset_delta = max((r.offset_delta for r in records), default=0)
    if max_timestamp is None:
        max_timestamp = base_timestamp + max(r.timestamp_delta for r in records) if records else NO_TIMESTAMP
    payload: bytes | bytearray = body
    if compression:
        from wire import compression as _compression

        payload = _compression.compress(compression, body, compression_level)
    attributes = (
        (compression & COMPRESSION_MASK)
        | (TIMESTAMP_TYPE_BIT if timestamp_type_log_append else 0)
        | (TRANSACTIONAL_BIT if transactional else 0)
        | (CONTROL_BIT if control else 0)
    )
    out = bytearray(HEADER_SIZE)
    out += payload
    _HEADER.pack_into(
        out,
        0,
        base_offset,
        len(out) - LOG_OVERHEAD,
        partition_leader_epoch,
        2,
        0,
        attributes,
        last_offset_delta,
        base_timestamp,
        max_timestamp,
        producer_id,
        producer_epoch,
        base_sequence,
        len(records),
    )
    _CRC.pack_into(out, _CRC_POS, crc32c.crc32c(memoryview(out)[_CRC_START:]))
    return bytes(out)


def batch_from_tuples(
    entries: Iterable[tuple[bytes | None, bytes | None, Sequence[tuple[str, bytes | None]] | None, int | None]],
    **kwargs,
) -> bytes:
    """A batch from (key, value, headers, timestamp) tuples; offset deltas 0..n-1, a None timestamp is now, the
    base timestamp is the first record's (unless base_timestamp is given); other keywords as build_batch."""
    entries = list(entries)
    now = _now_ms()
    stamps = [now if ts is None else ts for (_k, _v, _h, ts) in entries]
    base = kwargs.pop("base_timestamp", None)
    if base is None:
        base = stamps[0] if stamps else now
    records = [
        Record(i, ts - base, key, value, list(headers or ()))
        for i, ((key, value, headers, _), ts) in enumerate(zip(entries, stamps))
    ]
    return build_batch(records, base_timestamp=base, **kwargs)


_CONTROL_KEY = struct.Struct(">hh")  # version, type
_END_TXN_VALUE = struct.Struct(">hi")  # version, coordinatorEpoch


def build_control_batch(
    commit: bool,
    *,
    producer_id: int,
    producer_epoch: int,
    coordinator_epoch: int,
    timestamp: int,
    base_offset: int = 0,
    partition_leader_epoch: int = -1,
) -> bytes:
    """A transaction marker: one control record (COMMIT or ABORT) in a transactional control batch."""
    record = Record(
        0,
        0,
        _CONTROL_KEY.pack(0, CONTROL_COMMIT if commit else CONTROL_ABORT),
        _END_TXN_VALUE.pack(0, coordinator_epoch),
    )
    return build_batch(
        [record],
        base_offset=base_offset,
        base_timestamp=timestamp,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=NO_SEQUENCE,
        transactional=True,
        control=True,
        partition_leader_epoch=partition_leader_epoch,
    )


def read_control_record(record: Record) -> tuple[int, int | None]:
    """(control type, coordinator epoch) of a control record; the epoch is None unless it is a COMMIT or
    ABORT marker with an end-transaction value. InvalidRecordError if the key is not a control key."""
    if record.key is None or len(record.key) < _CONTROL_KEY.size:
        raise InvalidRecordError("control record without a control key")
    _version, ctype = _CONTROL_KEY.unpack_from(record.key)
    epoch = None
    if ctype in (CONTROL_ABORT, CONTROL_COMMIT) and record.value is not None and len(record.value) >= _END_TXN_VALUE.size:
        epoch = _END_TXN_VALUE.unpack_from(record.value)[1]
    return ctype, epoch
