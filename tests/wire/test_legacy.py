"""Legacy message sets (magic 0/1) <-> v2 batches: round trips, compressed wrappers with relative offsets,
LogAppendTime wrappers, CRC-32 checks, refusals, and kafka-go 0.2.1's real Produce v2 message sets."""
from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.vectors import needs_vectors
from tests.wire.test_records import REAL
from wire.compression import compress
from wire.legacy import (
    LegacyMessage,
    build_message_set,
    encode_message,
    iter_messages,
    legacy_to_v2,
    v2_to_legacy,
)
from wire.records import (
    CorruptRecordError,
    InvalidRecordError,
    Record,
    UnsupportedCompressionTypeError,
    batch_from_tuples,
    build_batch,
    build_control_batch,
    iter_batches,
    iter_records,
    validate_produce_batches,
)

blobs = st.none() | st.binary(max_size=100)


def flatten(v2: bytes) -> list[tuple[int, int, bytes | None, bytes | None]]:
    """(absolute offset, timestamp, key, value) of every record of v2 batches."""
    out = []
    for pos, h in iter_batches(v2, check_crc=True):
        for r in iter_records(v2, pos):
            ts = h.max_timestamp if h.is_log_append_time else h.base_timestamp + r.timestamp_delta
            out.append((h.base_offset + r.offset_delta, ts, r.key, r.value))
    return out


@st.composite
def entries(draw: st.DrawFn, min_size: int = 1) -> list[tuple[int, int, bytes | None, bytes | None]]:
    n = draw(st.integers(min_size, 15))
    first = draw(st.integers(0, 2**50))
    return [(first + i, draw(st.integers(0, 2**41)), draw(blobs), draw(blobs)) for i in range(n)]


# ---------------------------------------------------------------------------------------------------------------
# round trips


@settings(max_examples=80, deadline=None)
@given(batches=st.lists(entries(), min_size=1, max_size=3), codec=st.sampled_from([0, 1, 2, 3, 4]), magic=st.sampled_from([0, 1]))
def test_v2_to_legacy_and_back(batches: list, codec: int, magic: int) -> None:
    v2 = b""
    expected = []
    next_offset = 0
    for es in batches:
        es = [(next_offset + i, ts, k, v) for i, (_o, ts, k, v) in enumerate(es)]
        next_offset += len(es) + 5  # gaps between batches survive: offsets are absolute
        v2 += batch_from_tuples([(k, v, [("dropped", b"header")], ts) for (_o, ts, k, v) in es], base_offset=es[0][0], compression=codec)
        expected += es
    legacy = v2_to_legacy(v2, magic)
    msgs = list(iter_messages(legacy))
    assert all(m.magic == magic and m.attributes == 0 for m in msgs)
    assert [(m.offset, m.key, m.value) for m in msgs] == [(o, k, v) for (o, _t, k, v) in expected]
    if magic == 1:
        assert [m.timestamp for m in msgs] == [t for (_o, t, _k, _v) in expected]
    else:
        assert all(m.timestamp == -1 for m in msgs)
    back = legacy_to_v2(legacy)
    ts = (lambda t: t) if magic == 1 else (lambda t: -1)
    # one v2 batch per run of consecutive offsets: absolute offsets survive, gaps included
    assert len(list(iter_batches(back))) == len(batches)
    assert flatten(back) == [(o, ts(t), k, v) for (o, t, k, v) in expected]
    for _pos, h in iter_batches(back):
        assert h.compression == 0 and not h.is_log_append_time


@settings(max_examples=80, deadline=None)
@given(es=entries(), codec=st.sampled_from([0, 1, 2, 3]), magic=st.sampled_from([0, 1]))
def test_legacy_wrappers_to_v2(es: list, codec: int, magic: int) -> None:
    legacy = build_message_set(es, magic=magic, compression=codec)
    v2 = legacy_to_v2(legacy)
    batches = list(iter_batches(v2, check_crc=True))
    assert len(batches) == 1
    h = batches[0][1]
    assert h.compression == codec  # the codec is kept
    assert h.record_count == len(es) and h.last_offset_delta == len(es) - 1
    assert flatten(v2) == [(o, t if magic == 1 else -1, k, v) for (o, t, k, v) in es]
    assert validate_produce_batches(v2) == batches  # what the produce path checks next


def test_magic1_wrapper_offsets_are_relative() -> None:
    es = [(100, 5, b"a", b"1"), (101, 6, b"b", b"2"), (102, 7, b"c", b"3")]
    legacy = build_message_set(es, magic=1, compression=1)
    [wrapper] = iter_messages(legacy)
    assert (wrapper.offset, wrapper.timestamp, wrapper.codec) == (102, 7, 1)  # last offset, max timestamp
    inner = list(iter_messages(zlib.decompress(wrapper.value, 31)))
    assert [m.offset for m in inner] == [0, 1, 2]
    assert [o for (o, *_rest) in flatten(legacy_to_v2(legacy))] == [100, 101, 102]


def test_magic0_wrapper_offsets_are_absolute() -> None:
    es = [(100, -1, b"a", b"1"), (101, -1, b"b", b"2")]
    legacy = build_message_set(es, magic=0, compression=2)
    [wrapper] = iter_messages(legacy)
    inner = list(iter_messages(_decompress_snappy(wrapper.value)))
    assert [m.offset for m in inner] == [100, 101]
    assert flatten(legacy_to_v2(legacy)) == es


def _decompress_snappy(data: bytes) -> bytes:
    from wire.compression import decompress

    return decompress(2, data)


def test_wrapper_offset_too_small_keeps_inner_offsets() -> None:
    # producers (kafka-go) send wrapper offset 0 with inner offsets 0..n-1: Kafka then leaves them as they are
    inner = b"".join(encode_message(i, 1, None, b"v%d" % i, timestamp=10 + i) for i in range(3))
    legacy = encode_message(0, 1, None, compress(1, inner), timestamp=0, attributes=1)
    assert [(o, t, v) for (o, t, _k, v) in flatten(legacy_to_v2(legacy))] == [(0, 10, b"v0"), (1, 11, b"v1"), (2, 12, b"v2")]


def test_log_append_time_wrapper() -> None:
    es = [(0, 5, b"a", b"1"), (1, 6, b"b", b"2")]
    legacy = build_message_set(es, magic=1, compression=3, log_append_time=True)
    [wrapper] = iter_messages(legacy)
    assert wrapper.is_log_append_time
    legacy = encode_message(wrapper.offset, 1, None, wrapper.value, timestamp=999, attributes=wrapper.attributes)
    v2 = legacy_to_v2(legacy)
    [(pos, h)] = list(iter_batches(v2))
    assert h.is_log_append_time and h.max_timestamp == 999 and h.compression == 3
    assert [r.timestamp_delta for r in iter_records(v2, pos)] == [0, 0]
    assert [t for (_o, t, _k, _v) in flatten(v2)] == [999, 999]


def test_runs_split_by_magic_and_timestamp_type() -> None:
    legacy = (
        encode_message(0, 0, b"a", b"1")
        + encode_message(1, 0, b"b", b"2")
        + encode_message(2, 1, b"c", b"3", timestamp=50)
        + encode_message(3, 1, b"d", b"4", timestamp=60, attributes=8)
        + build_message_set([(4, 70, b"e", b"5")], magic=1, compression=1)
        + encode_message(5, 1, b"f", b"6", timestamp=80)
    )
    v2 = legacy_to_v2(legacy)
    shapes = [(h.base_offset, h.record_count, h.compression, h.is_log_append_time) for _p, h in iter_batches(v2)]
    assert shapes == [(0, 2, 0, False), (2, 1, 0, False), (3, 1, 0, True), (4, 1, 1, False), (5, 1, 0, False)]
    assert flatten(v2) == [(0, -1, b"a", b"1"), (1, -1, b"b", b"2"), (2, 50, b"c", b"3"), (3, 60, b"d", b"4"),
                           (4, 70, b"e", b"5"), (5, 80, b"f", b"6")]


def test_uncompressed_offsets_are_renumbered() -> None:
    # legacy producers fill offsets loosely (all 0): one batch, offsets 0..n-1 from the first
    legacy = b"".join(encode_message(0, 1, None, b"v%d" % i, timestamp=1) for i in range(4))
    v2 = legacy_to_v2(legacy)
    [(_pos, h)] = validate_produce_batches(v2)
    assert (h.base_offset, h.last_offset_delta, h.record_count) == (0, 3, 4)


def test_empty_message_set() -> None:
    assert legacy_to_v2(b"") == b""
    assert v2_to_legacy(b"", 1) == b""


def test_v2_to_legacy_drops_control_batches_and_keeps_log_append_time() -> None:
    data = build_batch([Record(0, 3, b"k", b"v", [("h", b"x")])], base_offset=10, base_timestamp=100, producer_id=5,
                       producer_epoch=0, base_sequence=0, transactional=True)
    data += build_control_batch(True, producer_id=5, producer_epoch=0, coordinator_epoch=1, timestamp=200, base_offset=11)
    data += build_batch([Record(0, 0, None, b"w"), Record(1, 4, None, b"x")], base_offset=12, base_timestamp=300,
                        timestamp_type_log_append=True, max_timestamp=777, compression=4)
    msgs = list(iter_messages(v2_to_legacy(data, 1)))
    assert [(m.offset, m.timestamp, m.key, m.value, m.is_log_append_time) for m in msgs] == [
        (10, 103, b"k", b"v", False),
        (12, 777, None, b"w", True),
        (13, 777, None, b"x", True),
    ]
    msgs0 = list(iter_messages(v2_to_legacy(data, 0)))
    assert [(m.offset, m.magic, m.timestamp, m.attributes) for m in msgs0] == [(10, 0, -1, 0), (12, 0, -1, 0), (13, 0, -1, 0)]


def test_known_message_bytes() -> None:
    # magic 1, offset 7, timestamp 5, key "k", value "vv": worked out from the format by hand
    entry = encode_message(7, 1, b"k", b"vv", timestamp=5)
    body = bytes([1, 0]) + struct.pack(">q", 5) + struct.pack(">i", 1) + b"k" + struct.pack(">i", 2) + b"vv"
    assert entry == struct.pack(">qi", 7, 4 + len(body)) + struct.pack(">I", zlib.crc32(body)) + body
    assert list(iter_messages(entry)) == [LegacyMessage(7, 1, 0, 5, b"k", b"vv")]


def test_bad_magic_argument() -> None:
    with pytest.raises(ValueError):
        v2_to_legacy(b"", 2)
    with pytest.raises(ValueError):
        encode_message(0, 2, None, None)


# ---------------------------------------------------------------------------------------------------------------
# refusals


@settings(max_examples=150, deadline=None)
@given(es=entries(), magic=st.sampled_from([0, 1]), codec=st.sampled_from([0, 1]), data=st.data())
def test_flipped_byte_is_caught(es: list, magic: int, codec: int, data: st.DataObject) -> None:
    original = build_message_set(es, magic=magic, compression=codec)
    offset_fields = set()
    p = 0
    while p < len(original):  # each entry's offset bytes
        offset_fields.update(range(p, p + 8))
        p += 12 + struct.unpack_from(">i", original, p + 8)[0]
    legacy = bytearray(original)
    pos = data.draw(st.integers(0, len(legacy) - 1))
    legacy[pos] ^= data.draw(st.integers(1, 255))
    if pos in offset_fields:
        legacy_to_v2(bytes(legacy))  # offsets are outside the CRC
    else:
        with pytest.raises(CorruptRecordError):
            legacy_to_v2(bytes(legacy))


def test_bad_inner_crc() -> None:
    inner = bytearray(encode_message(0, 1, None, b"value", timestamp=1))
    inner[-1] ^= 1
    legacy = encode_message(0, 1, None, compress(1, bytes(inner)), timestamp=1, attributes=1)
    with pytest.raises(CorruptRecordError):
        legacy_to_v2(legacy)


@pytest.mark.parametrize("cut", [1, 11, 12, 20, -1])
def test_truncated_message_set(cut: int) -> None:
    legacy = build_message_set([(0, 1, b"k", b"v"), (1, 2, b"k", b"v")], magic=1)
    with pytest.raises(CorruptRecordError):
        legacy_to_v2(legacy[:cut])


def test_bad_framing() -> None:
    good = encode_message(0, 1, b"k", b"v", timestamp=1)
    size_too_small = bytearray(good)
    struct.pack_into(">i", size_too_small, 8, 10)
    with pytest.raises(CorruptRecordError):
        legacy_to_v2(bytes(size_too_small))
    # a key length running past the message (CRC recomputed so only the framing is wrong)
    body = bytes([1, 0]) + struct.pack(">q", 1) + struct.pack(">i", 50) + b"k" + struct.pack(">i", 1) + b"v"
    bad = struct.pack(">qi", 0, 4 + len(body)) + struct.pack(">I", zlib.crc32(body)) + body
    with pytest.raises(CorruptRecordError):
        legacy_to_v2(bad)
    # magic 2 where a legacy message was expected
    body = bytes([2, 0]) + struct.pack(">q", 1) + struct.pack(">ii", -1, -1)
    bad = struct.pack(">qi", 0, 4 + len(body)) + struct.pack(">I", zlib.crc32(body)) + body
    with pytest.raises(CorruptRecordError):
        legacy_to_v2(bad)


def test_nested_compression_is_invalid() -> None:
    inner = build_message_set([(0, 1, b"k", b"v")], magic=1, compression=1)
    legacy = encode_message(0, 1, None, compress(1, inner), timestamp=1, attributes=1)
    with pytest.raises(InvalidRecordError):
        legacy_to_v2(legacy)


def test_inner_magic_must_match_wrapper() -> None:
    inner = encode_message(0, 0, b"k", b"v")
    legacy = encode_message(0, 1, None, compress(1, inner), timestamp=1, attributes=1)
    with pytest.raises(InvalidRecordError):
        legacy_to_v2(legacy)


def test_empty_or_null_wrapper_is_invalid() -> None:
    with pytest.raises(InvalidRecordError):
        legacy_to_v2(encode_message(0, 1, None, compress(1, b""), timestamp=1, attributes=1))
    with pytest.raises(InvalidRecordError):
        legacy_to_v2(encode_message(0, 1, None, None, timestamp=1, attributes=1))
    with pytest.raises(InvalidRecordError):
        legacy_to_v2(encode_message(0, 1, None, b"not gzip", timestamp=1, attributes=1))


@pytest.mark.parametrize("codec", [4, 5, 7])
def test_codecs_legacy_cannot_carry(codec: int) -> None:
    inner = encode_message(0, 1, b"k", b"v", timestamp=1)
    legacy = encode_message(0, 1, None, compress(min(codec, 4), inner), timestamp=1, attributes=codec)
    with pytest.raises(UnsupportedCompressionTypeError):
        legacy_to_v2(legacy)


def test_wrapper_decompression_is_capped() -> None:
    inner = encode_message(0, 1, None, bytes(200_000), timestamp=1)
    legacy = encode_message(0, 1, None, compress(1, inner), timestamp=1, attributes=1)
    with pytest.raises(InvalidRecordError):
        legacy_to_v2(legacy, max_size=100_000)
    assert len(flatten(legacy_to_v2(legacy))) == 1


# ---------------------------------------------------------------------------------------------------------------
# kafka-go 0.2.1: the real Produce v2 message sets it sent (magic 1, gzip wrapper and uncompressed)

REAL_LEGACY = [r for r in REAL if r[3][16] != 2]


@needs_vectors
@pytest.mark.parametrize("client,topic,partition,records", REAL_LEGACY, ids=[f"{c}-{t}-{i}" for i, (c, t, _p, _r) in enumerate(REAL_LEGACY)])
def test_real_kafka_go_message_sets(client: str, topic: str, partition: int, records: bytes) -> None:
    msgs = list(iter_messages(records))
    assert all(m.magic == 1 for m in msgs)
    v2 = legacy_to_v2(records)
    batches = validate_produce_batches(v2)
    got = flatten(v2)
    inner_count = 0
    for m in msgs:
        if m.codec:
            assert m.codec == 1  # gzip
            assert any(h.compression == 1 for _p, h in batches)
            inner_count += len(list(iter_messages(_gunzip(m.value))))
        else:
            inner_count += 1
    assert len(got) == inner_count
    for _o, ts, key, value in got:
        assert key is not None and key.startswith(b"k")
        assert value and ts > 1_500_000_000_000  # CreateTime from the client, in ms
    # and back to magic 1 for an old consumer
    assert [(m.key, m.value, m.timestamp) for m in iter_messages(v2_to_legacy(v2, 1))] == [(k, v, t) for (_o, t, k, v) in got]


def _gunzip(data: bytes) -> bytes:
    return zlib.decompress(data, 31)


@needs_vectors
def test_real_legacy_vectors_present() -> None:
    assert {c for c, *_ in REAL_LEGACY} == {"kafka-go-0.2.1"}
    assert any(r[17] & 7 == 1 for *_x, r in REAL_LEGACY)  # a gzip wrapper among them
