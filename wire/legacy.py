"""Legacy message sets (magic 0 and 1) to and from v2 record batches.

Old Produce (v0-2) requests carry message sets, and old Fetch (v0-3) answers must carry them; the log holds v2
batches only. Clients still speaking them: kafka-go 0.2.1 (Produce v2, magic 1), very old Java/librdkafka.

Message set: a sequence of entries, each offset int64, messageSize int32, then the message:
crc uint32 (CRC-32, zlib's, of everything after it), magic int8, attributes int8 (bits 0-2 codec: 0 none,
1 gzip, 2 snappy, 3 lz4; bit 3, magic 1 only: timestamp type, 1 = LogAppendTime), timestamp int64 (magic 1
only), key bytes (int32 length, -1 null), value bytes (int32 length, -1 null).

A compressed message is a wrapper whose value is the compressed bytes of an inner message set of uncompressed
messages. In magic 1 the inner offsets are relative (0..n-1) and the wrapper carries the absolute offset of the
last inner message; in magic 0 inner offsets are absolute. A magic 1 wrapper with the LogAppendTime bit gives
its own timestamp to every inner message.

Known gap: lz4 wrappers written by pre-0.10 clients in magic 0 carry a wrong frame-descriptor checksum (they
hashed the frame magic too); Kafka ignores that byte for magic 0, the lz4 library used here does not, so such a
message set is refused with InvalidRecordError.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Iterable, Iterator

from wire import compression as _compression
from wire.records import (
    NO_TIMESTAMP,
    CorruptRecordError,
    InvalidRecordError,
    Record,
    UnsupportedCompressionTypeError,
    build_batch,
    iter_batches,
    iter_records,
)

_ENTRY = struct.Struct(">qi")  # offset, message size
_CRC = struct.Struct(">I")
_MAGIC_ATTR = struct.Struct(">bb")
_TIMESTAMP = struct.Struct(">q")
_LEN = struct.Struct(">i")

ENTRY_OVERHEAD = _ENTRY.size  # 12
MIN_MESSAGE_SIZE = {0: 14, 1: 22}  # crc + magic + attributes (+ timestamp) + key length + value length
CODEC_MASK = 0x07
TIMESTAMP_TYPE_BIT = 0x08


@dataclass(slots=True)
class LegacyMessage:
    offset: int
    magic: int
    attributes: int
    timestamp: int  # -1 for magic 0
    key: bytes | None
    value: bytes | None

    @property
    def codec(self) -> int:
        return self.attributes & CODEC_MASK

    @property
    def is_log_append_time(self) -> bool:
        return self.magic > 0 and bool(self.attributes & TIMESTAMP_TYPE_BIT)


def _blob(buf: memoryview, pos: int, end: int) -> tuple[bytes | None, int]:
    if end - pos < 4:
        raise CorruptRecordError("message too short for its key/value lengths")
    (n,) = _LEN.unpack_from(buf, pos)
    pos += 4
    if n == -1:
        return None, pos
    if n < 0 or n > end - pos:
        raise CorruptRecordError(f"message key/value length {n} does not fit the message")
    return bytes(buf[pos : pos + n]), pos + n


def iter_messages(message_set: bytes | bytearray | memoryview) -> Iterator[LegacyMessage]:
    """The messages of a message set (not descending into compressed wrappers), each CRC-checked.

    CorruptRecordError for a bad CRC, unknown magic, or a message that does not fit its entry or the data
    (including a partial message at the end).
    """
    buf = memoryview(message_set)
    end = len(buf)
    pos = 0
    while pos < end:
        if end - pos < ENTRY_OVERHEAD:
            raise CorruptRecordError("partial message set entry at the end")
        offset, size = _ENTRY.unpack_from(buf, pos)
        start = pos + ENTRY_OVERHEAD
        stop = start + size
        if size < MIN_MESSAGE_SIZE[0] or stop > end:
            raise CorruptRecordError(f"message size {size} does not fit the data")
        (crc,) = _CRC.unpack_from(buf, start)
        magic, attributes = _MAGIC_ATTR.unpack_from(buf, start + 4)
        if magic not in (0, 1):
            raise CorruptRecordError(f"magic {magic} in a legacy message set")
        if size < MIN_MESSAGE_SIZE[magic]:
            raise CorruptRecordError(f"message size {size} too small for magic {magic}")
        if zlib.crc32(buf[start + 4 : stop]) != crc:
            raise CorruptRecordError("message CRC mismatch")
        p = start + 6
        timestamp = NO_TIMESTAMP
        if magic == 1:
            (timestamp,) = _TIMESTAMP.unpack_from(buf, p)
            p += 8
        key, p = _blob(buf, p, stop)
        value, p = _blob(buf, p, stop)
        if p != stop:
            raise CorruptRecordError("message size disagrees with its key and value")
        yield LegacyMessage(offset, magic, attributes & 0xFF, timestamp, key, value)
        pos = stop


def _inner_messages(wrapper: LegacyMessage, max_size: int | None) -> list[LegacyMessage]:
    codec = wrapper.codec
    if codec > _compression.LZ4:
        # zstd (4) needs magic 2; 5-7 are unknown
        raise UnsupportedCompressionTypeError(f"compression codec {codec} in a magic {wrapper.magic} message")
    if wrapper.value is None:
        raise InvalidRecordError("compressed message without a value")
    kwargs = {} if max_size is None else {"max_size": max_size}
    inner = list(iter_messages(_compression.decompress(codec, wrapper.value, **kwargs)))
    if not inner:
        raise InvalidRecordError("compressed message with no inner messages")
    for m in inner:
        if m.codec:
            raise InvalidRecordError("compressed message nested inside a compressed message")
        if m.magic != wrapper.magic:
            raise InvalidRecordError(f"inner message magic {m.magic} differs from its wrapper's {wrapper.magic}")
    if wrapper.magic == 1:
        base = wrapper.offset - inner[-1].offset
        if base >= 0:  # Kafka's rule: a wrapper offset too small to make sense leaves inner offsets as they are
            for m in inner:
                m.offset += base
        if wrapper.is_log_append_time:
            for m in inner:
                m.timestamp = wrapper.timestamp
    return inner


def _batch(messages: list[LegacyMessage], codec: int, log_append: bool) -> bytes:
    base_ts = messages[0].timestamp
    records = [Record(i, m.timestamp - base_ts, m.key, m.value, []) for i, m in enumerate(messages)]
    return build_batch(
        records,
        base_offset=messages[0].offset,
        compression=codec,
        timestamp_type_log_append=log_append,
        base_timestamp=base_ts,
    )


def legacy_to_v2(message_set: bytes | bytearray | memoryview, *, max_size: int | None = None) -> bytes:
    """V2 batch bytes holding the messages of a magic 0/1 message set: one batch per compressed wrapper (same
    codec) and one per run of uncompressed messages of the same magic and timestamp type.

    Timestamps are kept (magic 0 has none: -1). Offsets within a batch are renumbered 0..n-1 from the first
    message's offset, as Kafka does on produce (producers fill legacy offsets loosely, kafka-go sends all 0;
    the broker assigns them anyway). An uncompressed message whose offset jumps ahead of the previous one's
    starts a new batch, so that offsets with gaps (a compacted log) are kept.
    CorruptRecordError for a bad CRC or framing; InvalidRecordError for nested compression, empty or
    undecompressable wrappers; UnsupportedCompressionTypeError for zstd or unknown codecs.
    """
    out = bytearray()
    run: list[LegacyMessage] = []

    def flush() -> None:
        if run:
            out.extend(_batch(run, 0, run[0].is_log_append_time))
            run.clear()

    last = 0  # the offset the previous message of the run carried
    for m in iter_messages(message_set):
        if m.codec == 0:
            if run and (
                m.magic != run[0].magic or m.is_log_append_time != run[0].is_log_append_time or m.offset > last + 1
            ):
                flush()
            last = m.offset
            run.append(m)
            continue
        flush()
        inner = _inner_messages(m, max_size)
        out += _batch(inner, m.codec, m.is_log_append_time)
    flush()
    return bytes(out)


def encode_message(offset: int, magic: int, key: bytes | None, value: bytes | None, *, timestamp: int = NO_TIMESTAMP, attributes: int = 0) -> bytes:
    """One message set entry (offset, size, message) of magic 0 or 1, CRC included."""
    if magic not in (0, 1):
        raise ValueError(f"legacy magic must be 0 or 1, not {magic}")
    body = bytearray(_MAGIC_ATTR.pack(magic, attributes))
    if magic == 1:
        body += _TIMESTAMP.pack(timestamp)
    for blob in (key, value):
        if blob is None:
            body += _LEN.pack(-1)
        else:
            body += _LEN.pack(len(blob))
            body += blob
    crc = zlib.crc32(body)
    return _ENTRY.pack(offset, len(body) + 4) + _CRC.pack(crc) + bytes(body)


def build_message_set(
    entries: Iterable[tuple[int, int, bytes | None, bytes | None]],
    *,
    magic: int,
    compression: int = 0,
    log_append_time: bool = False,
) -> bytes:
    """A message set from (offset, timestamp, key, value) entries; with a codec (1-3), one wrapper holding them
    all (inner offsets relative in magic 1, absolute in magic 0; the wrapper takes the last offset and, in
    magic 1, the largest timestamp)."""
    entries = list(entries)
    attr_ts = TIMESTAMP_TYPE_BIT if (log_append_time and magic == 1) else 0
    if not compression:
        return b"".join(encode_message(o, magic, k, v, timestamp=ts, attributes=attr_ts) for (o, ts, k, v) in entries)
    if compression not in (_compression.GZIP, _compression.SNAPPY, _compression.LZ4):
        raise ValueError(f"codec {compression} is not available in magic {magic}")
    if not entries:
        return b""
    first = entries[0][0]
    inner = b"".join(
        encode_message(o - first if magic == 1 else o, magic, k, v, timestamp=ts) for (o, ts, k, v) in entries
    )
    wrapper_ts = max(ts for (_o, ts, _k, _v) in entries)
    return encode_message(
        entries[-1][0],
        magic,
        None,
        _compression.compress(compression, inner),
        timestamp=wrapper_ts,
        attributes=compression | attr_ts,
    )


def v2_to_legacy(batches: bytes | bytearray | memoryview, magic: int) -> bytes:
    """An uncompressed magic 0 or 1 message set holding the records of v2 batches (as read from the log), with
    absolute offsets. Control batches are dropped, and so are record headers (no place for them). Magic 1 keeps
    timestamps and the LogAppendTime type (a LogAppendTime batch gives its maxTimestamp to every record).
    Aborted transactional records are not filtered here: that needs the aborted-transaction index."""
    if magic not in (0, 1):
        raise ValueError(f"legacy magic must be 0 or 1, not {magic}")
    out = bytearray()
    for pos, h in iter_batches(batches, check_crc=True):
        if h.is_control:
            continue
        log_append = magic == 1 and h.is_log_append_time
        attributes = TIMESTAMP_TYPE_BIT if log_append else 0
        for r in iter_records(batches, pos, verify_crc=False):
            ts = NO_TIMESTAMP
            if magic == 1:
                ts = h.max_timestamp if log_append else h.base_timestamp + r.timestamp_delta
            out += encode_message(h.base_offset + r.offset_delta, magic, r.key, r.value, timestamp=ts, attributes=attributes)
    return bytes(out)
