"""Record batches v2: records round trip through build_batch/decode_records for every codec, the CRC catches
flipped bytes, validate_produce_batches refuses each bad case, and real clients' batches pass and decode."""
from __future__ import annotations

import struct
from io import BytesIO

import crc32c
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.vectors import needs_vectors, samples
from wire.record_timestamps import records_max_timestamp
from wire.records import (
    CONTROL_ABORT,
    CONTROL_COMMIT,
    HEADER_SIZE,
    CorruptRecordError,
    InvalidRecordError,
    Record,
    UnsupportedCompressionTypeError,
    batch_from_tuples,
    build_batch,
    build_control_batch,
    crc_ok,
    decode_batch,
    decode_records,
    iter_batches,
    iter_records,
    parse_header,
    read_control_record,
    read_varint,
    set_base_offset,
    set_log_append_time,
    set_max_timestamp,
    set_partition_leader_epoch,
    validate_produce_batches,
    write_varint,
)

CODECS = [0, 1, 2, 3, 4]


# ---------------------------------------------------------------------------------------------------------------
# real Produce frames


def _produce_records_by_hand(frame: bytes) -> list[tuple[str, int, bytes | None]]:
    """(topic, partition, records) of a Produce request frame, parsed without the schema (v0-12)."""
    from wire import primitives as rt
    from wire.codec import decode_request_header

    h = decode_request_header(frame)
    v, flex = h.api_version, h.api_version >= 9
    io = BytesIO(frame)
    io.seek(h.size)
    if v >= 3:
        rt.read_string(io, flex, True)
    io.read(6)  # acks, timeout
    out = []
    for _ in range(rt.read_count(io, flex, False)):
        name = rt.read_string(io, flex, False)
        for _ in range(rt.read_count(io, flex, False)):
            (index,) = struct.unpack(">i", io.read(4))
            records = rt.read_bytes(io, flex, True)
            if flex:
                rt.read_tag_section(io)
            out.append((name, index, records))
        if flex:
            rt.read_tag_section(io)
    return out


def _produce_records(frame: bytes) -> list[tuple[str, int, bytes | None]]:
    """Through the Produce schema when it is there, else by hand."""
    from wire.codec import decode_request_header, request_codec

    try:
        h = decode_request_header(frame)
        body = request_codec(0, h.api_version).decode(frame[h.size :])
        return [
            (t.name, p.index, None if p.records is None else bytes(p.records))
            for t in body.topic_data
            for p in t.partition_data
        ]
    except Exception:
        return _produce_records_by_hand(frame)


def real_produce_records() -> list[tuple[str, str, int, bytes]]:
    """(client, topic, partition, records bytes) of every Produce frame captured from real clients."""
    out = []
    for sample in samples():
        if sample["api_key"] != 0:
            continue
        for topic, index, records in _produce_records(bytes.fromhex(sample["request_hex"])):
            if records:
                out.append((sample["client"], topic, index, records))
    return out


REAL = real_produce_records()
REAL_V2 = [r for r in REAL if r[3][16] == 2]


@needs_vectors
def test_vectors_cover_the_expected_clients_and_codecs() -> None:
    clients = {c for c, *_ in REAL_V2}
    assert len(clients) >= 8
    codecs = {r[22] & 7 for *_, r in REAL_V2}
    assert {0, 1, 2, 4} <= codecs  # none, gzip, snappy (sarama, raw), zstd; no client sent lz4


@needs_vectors
@pytest.mark.parametrize("client,topic,partition,records", REAL_V2, ids=[f"{c}-{t}-{p}" for c, t, p, _ in REAL_V2])
def test_real_client_batches_validate_and_decode(client: str, topic: str, partition: int, records: bytes) -> None:
    batches = validate_produce_batches(records)
    assert len(batches) == 1  # every client sends one batch per partition (Kafka requires it from v3)
    pos, header = batches[0]
    decoded = decode_records(records)
    assert len(decoded) == header.record_count
    assert [r.offset_delta for r in decoded] == list(range(header.record_count))
    computed = max(header.base_timestamp + r.timestamp_delta for r in decoded)
    assert records_max_timestamp(records) == computed
    if client.startswith("sarama"):
        assert header.max_timestamp == -1  # sarama 1.22 leaves maxTimestamp unset; Kafka recomputes it
        fixed = bytearray(records)
        set_max_timestamp(fixed, 0, computed)
        [(_, h)] = validate_produce_batches(fixed)
        assert h.max_timestamp == computed and not h.is_log_append_time
    else:
        assert header.max_timestamp == computed
    for r in decoded:
        assert r.value  # every probe wrote a value
    # re-encoding the records uncompressed gives the same record bytes as an uncompressed client sent
    again = build_batch(
        decoded,
        base_timestamp=header.base_timestamp,
        producer_id=header.producer_id,
        producer_epoch=header.producer_epoch,
        base_sequence=header.base_sequence,
        transactional=header.is_transactional,
        partition_leader_epoch=header.partition_leader_epoch,
        max_timestamp=header.max_timestamp,
        compression=0,
    )
    if header.compression == 0:
        assert again == bytes(records)
    assert decode_records(again) == decoded


# ---------------------------------------------------------------------------------------------------------------
# varints


@pytest.mark.parametrize(
    "value,encoded",
    [(0, b"\x00"), (-1, b"\x01"), (1, b"\x02"), (63, b"\x7e"), (-64, b"\x7f"), (64, b"\x80\x01"), (-65, b"\x81\x01"),
     (300, b"\xd8\x04"), (2**31 - 1, b"\xfe\xff\xff\xff\x0f"), (-(2**31), b"\xff\xff\xff\xff\x0f"),
     (-(2**63), b"\xff" * 9 + b"\x01")],
)
def test_varint_known_encodings(value: int, encoded: bytes) -> None:
    out = bytearray()
    write_varint(out, value)
    assert bytes(out) == encoded
    assert read_varint(encoded, 0) == (value, len(encoded))


@given(st.integers(-(2**63), 2**63 - 1))
def test_varint_roundtrip(value: int) -> None:
    out = bytearray(b"\xaa")
    write_varint(out, value)
    assert read_varint(bytes(out), 1) == (value, len(out))


@pytest.mark.parametrize("data", [b"", b"\x80", b"\xff" * 11])
def test_varint_malformed(data: bytes) -> None:
    with pytest.raises(InvalidRecordError):
        read_varint(data, 0)


# ---------------------------------------------------------------------------------------------------------------
# round trips

blobs = st.none() | st.binary(max_size=200)
headers = st.lists(st.tuples(st.text(max_size=20), blobs), max_size=3)


@st.composite
def record_lists(draw: st.DrawFn, min_size: int = 1) -> list[Record]:
    n = draw(st.integers(min_size, 20))
    return [
        Record(i, draw(st.integers(-(2**40), 2**40)), draw(blobs), draw(blobs), draw(headers))
        for i in range(n)
    ]


@pytest.mark.parametrize("codec", CODECS)
@settings(max_examples=60, deadline=None)
@given(
    records=record_lists(),
    base_offset=st.integers(0, 2**62),
    base_ts=st.integers(0, 2**41),
    pid=st.integers(-1, 2**62),
    seq=st.integers(0, 2**31 - 1),
)
def test_records_roundtrip(codec: int, records: list[Record], base_offset: int, base_ts: int, pid: int, seq: int) -> None:
    batch = build_batch(
        records,
        base_offset=base_offset,
        compression=codec,
        base_timestamp=base_ts,
        producer_id=pid,
        producer_epoch=0 if pid >= 0 else -1,
        base_sequence=seq if pid >= 0 else -1,
        partition_leader_epoch=7,
    )
    assert decode_records(batch) == records
    h = parse_header(batch)
    assert (h.magic, h.compression, h.base_offset, h.partition_leader_epoch) == (2, codec, base_offset, 7)
    assert h.size == len(batch)
    assert h.record_count == len(records)
    assert h.last_offset_delta == len(records) - 1
    assert h.base_timestamp == base_ts
    assert h.max_timestamp == base_ts + max(r.timestamp_delta for r in records)
    assert crc_ok(batch, 0, h)
    assert validate_produce_batches(batch) == [(0, h)]


@given(record_lists(min_size=0))
def test_roundtrip_records_with_gaps_and_empty_batch(records: list[Record]) -> None:
    # compaction leaves gaps in offset deltas and may leave a batch empty while keeping lastOffsetDelta
    for i, r in enumerate(records):
        r.offset_delta = 3 * i
    batch = build_batch(records, base_timestamp=0, last_offset_delta=100)
    assert decode_records(batch) == records
    h = parse_header(batch)
    assert h.last_offset_delta == 100
    assert h.max_timestamp == (max(r.timestamp_delta for r in records) if records else -1)


def test_header_key_that_is_not_utf8_survives() -> None:
    # a header key is a UTF-8 string; bytes that are not UTF-8 come back unchanged on re-encoding
    raw = b"\xff\xfekey"
    record = Record(0, 0, None, b"v", [(raw.decode("utf-8", "surrogateescape"), b"x")])
    batch = build_batch([record], base_timestamp=0)
    assert raw in batch
    [back] = decode_records(batch)
    assert back == record
    assert build_batch([back], base_timestamp=0) == batch


def test_known_record_bytes() -> None:
    # one record, key "k", value "v", one header ("h", null): worked out from the format by hand
    batch = build_batch([Record(0, 5, b"k", b"v", [("h", None)])], base_timestamp=1000)
    body = batch[HEADER_SIZE:]
    assert body == bytes([
        0x16,  # length 11
        0x00,  # attributes
        0x0A,  # timestampDelta 5
        0x00,  # offsetDelta 0
        0x02, ord("k"),
        0x02, ord("v"),
        0x02,  # one header
        0x02, ord("h"),
        0x01,  # null header value
    ])
    assert parse_header(batch).max_timestamp == 1005


def test_batch_from_tuples() -> None:
    batch = batch_from_tuples(
        [(b"k0", b"v0", None, 1000), (None, b"v1", [("h", b"x")], 1003), (b"k2", None, [], 999)],
        compression=1,
        base_offset=42,
    )
    h = parse_header(batch)
    assert (h.base_offset, h.base_timestamp, h.max_timestamp, h.record_count, h.compression) == (42, 1000, 1003, 3, 1)
    records = decode_records(batch)
    assert [(r.offset_delta, r.timestamp_delta, r.key, r.value, r.headers) for r in records] == [
        (0, 0, b"k0", b"v0", []),
        (1, 3, None, b"v1", [("h", b"x")]),
        (2, -1, b"k2", None, []),
    ]
    h2, records2 = decode_batch(batch)
    assert h2 == h and records2 == records


def test_several_batches_and_iter_records_at_position() -> None:
    a = batch_from_tuples([(b"a", b"1", None, 1)], base_offset=0)
    b = batch_from_tuples([(b"b", b"2", None, 2), (b"c", b"3", None, 3)], base_offset=1, compression=4)
    data = a + b
    found = validate_produce_batches(data)
    assert [(p, h.base_offset, h.record_count) for p, h in found] == [(0, 0, 1), (len(a), 1, 2)]
    assert [p for p, _ in iter_batches(data, check_crc=True)] == [0, len(a)]
    assert [r.key for r in iter_records(data, len(a))] == [b"b", b"c"]
    assert validate_produce_batches(memoryview(data)) == found


# ---------------------------------------------------------------------------------------------------------------
# CRC


@settings(max_examples=200, deadline=None)
@given(records=record_lists(), codec=st.sampled_from(CODECS), data=st.data())
def test_flipped_byte_is_caught(records: list[Record], codec: int, data: st.DataObject) -> None:
    batch = bytearray(build_batch(records, compression=codec, base_timestamp=0))
    pos = data.draw(st.integers(0, len(batch) - 1))
    batch[pos] ^= data.draw(st.integers(1, 255))
    if pos < 8 or 12 <= pos < 16:
        # base offset and leader epoch are outside the CRC: the broker rewrites them
        validate_produce_batches(batch)
        decode_records(batch)
    elif pos == 16:
        with pytest.raises(InvalidRecordError):
            validate_produce_batches(batch)
        with pytest.raises(CorruptRecordError):
            decode_records(batch)
    else:
        with pytest.raises(CorruptRecordError):
            validate_produce_batches(batch)
        with pytest.raises(CorruptRecordError):
            decode_records(batch)


def test_offset_and_epoch_rewrites_keep_the_crc() -> None:
    batch = bytearray(batch_from_tuples([(b"k", b"v", None, 5)] * 3))
    set_base_offset(batch, 0, 123456789)
    set_partition_leader_epoch(batch, 0, 9)
    [(pos, h)] = validate_produce_batches(batch)
    assert (h.base_offset, h.partition_leader_epoch, h.last_offset) == (123456789, 9, 123456791)


# ---------------------------------------------------------------------------------------------------------------
# LogAppendTime


@pytest.mark.parametrize("codec", CODECS)
def test_set_log_append_time(codec: int) -> None:
    first = batch_from_tuples([(b"x", b"y", None, 10)])
    second = batch_from_tuples([(b"k", b"v", None, 100), (b"k", b"w", None, 150)], compression=codec)
    buf = bytearray(first + second)
    set_log_append_time(buf, len(first), 999_999)
    [(_, h1), (p2, h2)] = validate_produce_batches(buf)
    assert not h1.is_log_append_time
    assert h2.is_log_append_time and h2.max_timestamp == 999_999
    assert h2.base_timestamp == 100 and h2.compression == codec
    assert [r.value for r in iter_records(buf, p2)] == [b"v", b"w"]
    before = bytes(buf)
    set_log_append_time(buf, len(first), 999_999)  # idempotent
    assert bytes(buf) == before


def test_log_append_time_flag_in_build_batch() -> None:
    batch = build_batch([Record(0, 0, None, b"v")], timestamp_type_log_append=True, base_timestamp=77)
    h = parse_header(batch)
    assert h.is_log_append_time and h.max_timestamp == 77


# ---------------------------------------------------------------------------------------------------------------
# control batches


@pytest.mark.parametrize("commit", [True, False])
def test_control_batch(commit: bool) -> None:
    batch = build_control_batch(
        commit, producer_id=77, producer_epoch=3, coordinator_epoch=12, timestamp=1700, base_offset=50,
        partition_leader_epoch=4,
    )
    h = parse_header(batch)
    assert h.is_control and h.is_transactional and h.compression == 0
    assert (h.producer_id, h.producer_epoch, h.base_sequence, h.base_offset) == (77, 3, -1, 50)
    assert (h.base_timestamp, h.max_timestamp, h.record_count, h.last_offset_delta) == (1700, 1700, 1, 0)
    assert h.partition_leader_epoch == 4
    [record] = decode_records(batch)
    assert record.key == struct.pack(">hh", 0, 1 if commit else 0)
    assert record.value == struct.pack(">hi", 0, 12)
    assert read_control_record(record) == (CONTROL_COMMIT if commit else CONTROL_ABORT, 12)
    with pytest.raises(InvalidRecordError):
        validate_produce_batches(batch)  # clients may not write them


def test_read_control_record_rejects_a_plain_record() -> None:
    with pytest.raises(InvalidRecordError):
        read_control_record(Record(0, 0, b"k", b"v"))


# ---------------------------------------------------------------------------------------------------------------
# validate_produce_batches: each refusal


def _reseal(buf: bytearray, pos: int = 0) -> bytes:
    h = parse_header(buf, pos)
    struct.pack_into(">I", buf, pos + 17, crc32c.crc32c(bytes(buf[pos + 21 : pos + h.size])))
    return bytes(buf)


def _tampered(offset: int, fmt: str, value: int, **kwargs) -> bytes:
    buf = bytearray(batch_from_tuples([(b"k", b"v", None, 1)] * 3, base_timestamp=1, **kwargs))
    struct.pack_into(fmt, buf, offset, value)
    return _reseal(buf)


GOOD = batch_from_tuples([(b"k", b"v", None, 1)] * 3)


@pytest.mark.parametrize(
    "data,error",
    [
        (b"", InvalidRecordError),  # no batch
        (GOOD[:60], CorruptRecordError),  # shorter than a header
        (GOOD[:-1], CorruptRecordError),  # batchLength beyond the data
        (GOOD + b"\x00" * 5, CorruptRecordError),  # trailing bytes
        (GOOD + GOOD[:70], CorruptRecordError),  # a partial second batch
        (_tampered(8, ">i", 10), CorruptRecordError),  # batchLength too small for a header
        (_tampered(16, ">b", 1), InvalidRecordError),  # magic 1
        (_tampered(16, ">b", 3), InvalidRecordError),  # magic 3
        (_tampered(57, ">i", 0), InvalidRecordError),  # record count 0
        (_tampered(57, ">i", -1), InvalidRecordError),  # negative record count
        (_tampered(23, ">i", 1), InvalidRecordError),  # lastOffsetDelta 1 for 3 records
        (_tampered(23, ">i", 5), InvalidRecordError),  # lastOffsetDelta 5 for 3 records
        (_tampered(57, ">i", 4), InvalidRecordError),  # record count 4 for lastOffsetDelta 2
        (_tampered(21, ">h", 0x20), InvalidRecordError),  # control bit
        (_tampered(21, ">h", 0x10), InvalidRecordError),  # transactional without a producer id
        (_tampered(43, ">q", 5), InvalidRecordError),  # producer id with base sequence -1
        (_tampered(21, ">h", 5), UnsupportedCompressionTypeError),
        (_tampered(21, ">h", 6), UnsupportedCompressionTypeError),
        (_tampered(21, ">h", 7), UnsupportedCompressionTypeError),
    ],
)
def test_validate_refuses(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        validate_produce_batches(data)


def test_validate_refuses_a_wrong_crc() -> None:
    buf = bytearray(GOOD)
    struct.pack_into(">I", buf, 17, parse_header(GOOD).crc ^ 1)
    with pytest.raises(CorruptRecordError):
        validate_produce_batches(buf)


def test_validate_refuses_more_records_than_bytes() -> None:
    # an uncompressed batch claiming 1000 records in 3 records' bytes, counts consistent, CRC sound
    buf = bytearray(GOOD)
    struct.pack_into(">i", buf, 23, 999)
    struct.pack_into(">i", buf, 57, 1000)
    with pytest.raises(InvalidRecordError):
        validate_produce_batches(_reseal(buf))


def test_validate_refuses_a_bad_second_batch() -> None:
    with pytest.raises(InvalidRecordError):
        validate_produce_batches(GOOD + _tampered(21, ">h", 0x20))


def test_validate_accepts_sequence_without_producer_id() -> None:
    # aiokafka, kafkajs, platformatic and sarama send producerId -1 with baseSequence 0; Kafka accepts it
    batch = batch_from_tuples([(b"k", b"v", None, 1)], producer_id=-1, producer_epoch=0, base_sequence=0)
    assert len(validate_produce_batches(batch)) == 1


def test_validate_accepts_idempotent_and_transactional() -> None:
    batch = batch_from_tuples(
        [(b"k", b"v", None, 1)] * 4, producer_id=9, producer_epoch=1, base_sequence=40, transactional=True, compression=3
    )
    [(_, h)] = validate_produce_batches(batch)
    assert h.is_transactional and h.last_sequence == 43


def test_error_codes() -> None:
    assert CorruptRecordError.code == 2
    assert InvalidRecordError.code == 87
    assert UnsupportedCompressionTypeError.code == 76
    assert issubclass(UnsupportedCompressionTypeError, InvalidRecordError)


# ---------------------------------------------------------------------------------------------------------------
# decode_records: bad insides under a sound CRC


def _with_body(body: bytes, count: int, codec: int = 0) -> bytes:
    from wire.compression import compress

    payload = compress(codec, body)
    buf = bytearray(build_batch([], base_timestamp=0, compression=0))
    buf += payload
    struct.pack_into(">i", buf, 8, len(buf) - 12)
    struct.pack_into(">h", buf, 21, codec)
    struct.pack_into(">i", buf, 57, count)
    return _reseal(buf)


def _record_bytes(*records: Record) -> bytes:
    from wire.records import encode_record

    out = bytearray()
    for r in records:
        encode_record(out, r)
    return bytes(out)


@pytest.mark.parametrize("codec", CODECS)
def test_decode_refuses_bad_records(codec: int) -> None:
    one = _record_bytes(Record(0, 0, b"k", b"v"))
    with pytest.raises(InvalidRecordError):
        decode_records(_with_body(one, 2, codec))  # fewer records than declared
    with pytest.raises(InvalidRecordError):
        decode_records(_with_body(one + b"\x00", 1, codec))  # bytes left over
    with pytest.raises(InvalidRecordError):
        decode_records(_with_body(one[:-1], 1, codec))  # record cut short
    bad_len = bytearray(one)
    bad_len[0] = 0x7E  # record length 63
    with pytest.raises(InvalidRecordError):
        decode_records(_with_body(bytes(bad_len), 1, codec))
    assert decode_records(_with_body(one, 1, codec)) == [Record(0, 0, b"k", b"v")]


def test_decode_refuses_undecompressable_data() -> None:
    with pytest.raises(InvalidRecordError):
        decode_records(_tampered(21, ">h", 1))  # says gzip, holds plain records
    with pytest.raises(UnsupportedCompressionTypeError):
        decode_records(_tampered(21, ">h", 6))


def test_decode_caps_decompressed_size() -> None:
    batch = build_batch([Record(0, 0, None, bytes(100_000))], compression=4, base_timestamp=0)
    assert len(batch) < 1000
    with pytest.raises(InvalidRecordError):
        decode_records(batch, max_size=50_000)
    assert decode_records(batch)[0].value == bytes(100_000)


def test_decode_skips_crc_check_on_request() -> None:
    buf = bytearray(GOOD)
    struct.pack_into(">I", buf, 17, 0)
    with pytest.raises(CorruptRecordError):
        decode_records(buf)
    assert len(decode_records(buf, verify_crc=False)) == 3

