"""Compression codecs: round trips, the frame shapes other clients need, the shapes other clients write, the
decompression cap, hostile input, and interop with real clients (captured Produce frames; librdkafka through
its built-in mock cluster, both ways)."""
from __future__ import annotations

import gzip
import os
import socket
import struct
import time

import cramjam
import lz4.frame
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.vectors import needs_vectors
from tests.wire.test_records import REAL_V2
from wire.compression import (
    CODECS,
    DEFAULT_MAX_SIZE,
    GZIP,
    LZ4,
    NONE,
    SNAPPY,
    XERIAL_MAGIC,
    ZSTD,
    compress,
    decompress,
)
from wire.records import (
    HEADER_SIZE,
    InvalidRecordError,
    Record,
    UnsupportedCompressionTypeError,
    build_batch,
    decode_records,
    iter_batches,
    parse_header,
)

ALL = [NONE, GZIP, SNAPPY, LZ4, ZSTD]
COMPRESSED = [GZIP, SNAPPY, LZ4, ZSTD]


@pytest.mark.parametrize("codec", ALL)
@settings(max_examples=50, deadline=None)
@given(data=st.binary(max_size=3000), repeat=st.integers(1, 50))
def test_roundtrip(codec: int, data: bytes, repeat: int) -> None:
    data = data * repeat
    packed = compress(codec, data)
    assert decompress(codec, packed) == data
    assert decompress(codec, memoryview(packed)) == data
    assert decompress(codec, bytearray(packed)) == data


@pytest.mark.parametrize("codec", ALL)
def test_roundtrip_across_block_sizes(codec: int) -> None:
    # larger than a xerial block (32 KiB) and an lz4 block (64 KiB), half incompressible
    data = os.urandom(100_000) + bytes(200_000) + b"kafka" * 20_000
    assert decompress(codec, compress(codec, data)) == data


def test_frame_shapes_other_clients_need() -> None:
    data = b"abc" * 50_000
    # gzip: a gzip member
    assert compress(GZIP, data)[:3] == b"\x1f\x8b\x08"
    # snappy: xerial framing, as the Java client writes (librdkafka and the Java client read it)
    s = compress(SNAPPY, data)
    assert s[:8] == XERIAL_MAGIC and struct.unpack(">ii", s[8:16]) == (1, 1)
    n = struct.unpack(">i", s[16:20])[0]
    assert cramjam.snappy.decompress_raw_len(s[20 : 20 + n]) == 32 * 1024
    # lz4: frame magic; FLG 0x60 = version 01, independent blocks, no block/content checksum, no content size
    # (the Java reader decompresses each block alone); BD 0x40 = 64 KiB blocks
    f = compress(LZ4, data)
    assert f[:4] == b"\x04\x22\x4d\x18" and f[4] == 0x60 and f[5] == 0x40
    # zstd: a standard frame
    assert compress(ZSTD, data)[:4] == b"\x28\xb5\x2f\xfd"


def test_shapes_other_clients_write() -> None:
    data = b"record bytes " * 10_000
    # raw snappy (librdkafka, sarama, kafkajs)
    assert decompress(SNAPPY, bytes(cramjam.snappy.compress_raw(data))) == data
    # xerial with several blocks of uneven sizes, and an empty block
    blocks = [data[:1000], data[1000:50_000], b"", data[50_000:]]
    xerial = XERIAL_MAGIC + struct.pack(">ii", 1, 1)
    for b in blocks:
        raw = bytes(cramjam.snappy.compress_raw(b)) if b else b""
        xerial += struct.pack(">i", len(raw)) + raw
    assert decompress(SNAPPY, xerial) == data
    # zstd streamed: no content size in the frame header (Java and librdkafka write these)
    cobj = zstandard.ZstdCompressor().compressobj()
    streamed = cobj.compress(data) + cobj.flush()
    assert zstandard.frame_content_size(streamed) == -1
    assert decompress(ZSTD, streamed) == data
    # zstd: several frames, one with a checksum, and a skippable frame
    two = zstandard.ZstdCompressor(write_checksum=True).compress(data[:5000]) + struct.pack("<II", 0x184D2A50, 3) + b"xyz"
    assert decompress(ZSTD, two + zstandard.ZstdCompressor().compress(data[5000:])) == data
    # gzip: two concatenated members (GZIPInputStream reads on), and a stdlib gzip stream
    assert decompress(GZIP, gzip.compress(data[:7]) + gzip.compress(data[7:])) == data
    # lz4: linked blocks, content size, checksums (readers other than Kafka's accept them all)
    linked = lz4.frame.compress(data, block_linked=True, store_size=True, content_checksum=True)
    assert decompress(LZ4, linked) == data
    assert decompress(LZ4, lz4.frame.compress(data[:10]) + lz4.frame.compress(data[10:])) == data


@pytest.mark.parametrize("codec", COMPRESSED)
def test_decompression_bomb_is_refused(codec: int) -> None:
    big = bytes(20 * 1024 * 1024)
    packed = compress(codec, big)
    assert len(packed) < 2 * 1024 * 1024
    with pytest.raises(InvalidRecordError):
        decompress(codec, packed, max_size=1024 * 1024)
    assert len(decompress(codec, packed, max_size=len(big))) == len(big)  # exactly at the cap is fine


def test_bomb_checks_before_inflating() -> None:
    # raw snappy declaring 2 GiB in its preamble is refused without trying
    with pytest.raises(InvalidRecordError):
        decompress(SNAPPY, b"\x80\x80\x80\x80\x08" + b"\x00" * 10)
    # zstd (content size in the header or not): output stops at max_size + 1 bytes
    huge = zstandard.ZstdCompressor().compress(bytes(1 << 20))
    with pytest.raises(InvalidRecordError):
        decompress(ZSTD, huge, max_size=1000)
    assert DEFAULT_MAX_SIZE >= 64 * 1024 * 1024


@pytest.mark.parametrize("codec", COMPRESSED)
def test_truncated_input_is_refused(codec: int) -> None:
    packed = compress(codec, os.urandom(5000) + bytes(100_000))
    for cut in (0, 1, 4, 10, len(packed) // 2, len(packed) - 1):
        with pytest.raises(InvalidRecordError):
            decompress(codec, packed[:cut])


@pytest.mark.parametrize("codec", COMPRESSED)
def test_trailing_garbage(codec: int) -> None:
    packed = compress(codec, b"payload" * 100)
    if codec == GZIP:
        # GZIPInputStream ignores bytes after a member that do not start another one; so do we
        assert decompress(codec, packed + b"junk") == b"payload" * 100
    else:
        with pytest.raises(InvalidRecordError):
            decompress(codec, packed + b"junk")


PREFIXES = {GZIP: b"\x1f\x8b\x08\x00", SNAPPY: XERIAL_MAGIC + b"\x00\x00\x00\x01\x00\x00\x00\x01", LZ4: b"\x04\x22\x4d\x18", ZSTD: b"\x28\xb5\x2f\xfd"}


@pytest.mark.parametrize("codec", COMPRESSED)
@settings(max_examples=150, deadline=None)
@given(tail=st.binary(max_size=300), prefixed=st.booleans())
def test_hostile_input_raises_only_invalid_record(codec: int, tail: bytes, prefixed: bool) -> None:
    data = (PREFIXES[codec] if prefixed else b"") + tail
    try:
        out = decompress(codec, data, max_size=1 << 20)
    except InvalidRecordError:
        return
    assert len(out) <= 1 << 20


@pytest.mark.parametrize("codec", COMPRESSED)
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_flipped_byte_raises_only_invalid_record(codec: int, data: st.DataObject) -> None:
    packed = bytearray(compress(codec, b"some kafka record payload " * 300))
    pos = data.draw(st.integers(0, len(packed) - 1))
    packed[pos] ^= data.draw(st.integers(1, 255))
    try:
        decompress(codec, bytes(packed), max_size=1 << 20)
    except InvalidRecordError:
        pass


@pytest.mark.parametrize("codec", [5, 6, 7, 99])
def test_unknown_codec(codec: int) -> None:
    with pytest.raises(UnsupportedCompressionTypeError):
        decompress(codec, b"whatever")
    with pytest.raises(ValueError):
        compress(codec, b"whatever")


def test_codec_names() -> None:
    assert CODECS == {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


# ---------------------------------------------------------------------------------------------------------------
# real clients' compressed bytes (captured Produce frames)

REAL_COMPRESSED = [r for r in REAL_V2 if r[3][22] & 7]


@needs_vectors
@pytest.mark.parametrize("client,topic,partition,records", REAL_COMPRESSED, ids=[f"{c}-{t}" for c, t, _, _ in REAL_COMPRESSED])
def test_real_client_compressed_payloads(client: str, topic: str, partition: int, records: bytes) -> None:
    h = parse_header(records)
    payload = records[HEADER_SIZE : h.size]
    plain = decompress(h.compression, payload)
    assert len(plain) >= h.record_count * 7
    # and our own compression of the same records reads back identically
    again = compress(h.compression, plain)
    assert decompress(h.compression, again) == plain
    assert len(decode_records(records)) == h.record_count


@needs_vectors
def test_real_client_shapes_seen() -> None:
    shapes = set()
    for client, _t, _p, records in REAL_COMPRESSED:
        codec = records[22] & 7
        payload = records[HEADER_SIZE:]
        if codec == SNAPPY:
            shapes.add((client, "snappy-xerial" if payload[:8] == XERIAL_MAGIC else "snappy-raw"))
        elif codec == ZSTD:
            shapes.add((client, "zstd-sized" if zstandard.frame_content_size(payload) >= 0 else "zstd-streamed"))
        else:
            shapes.add((client, CODECS[codec]))
    assert ("sarama-1.22.1", "snappy-raw") in shapes
    assert ("java-4.0-snapshot", "zstd-streamed") in shapes
    assert ("java-4.0-snapshot", "gzip") in shapes


# ---------------------------------------------------------------------------------------------------------------
# librdkafka (confluent-kafka) through its built-in mock cluster: no broker needed

try:
    import confluent_kafka as ck
except ImportError:  # pragma: no cover
    ck = None
needs_librdkafka = pytest.mark.skipif(ck is None, reason="confluent-kafka not installed")


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def _call(host: str, port: int, api_key: int, version: int, body: bytes) -> bytes:
    client_id = b"kbroker-tests"
    req = struct.pack(">hhih", api_key, version, 1, len(client_id)) + client_id + body
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(struct.pack(">i", len(req)) + req)
        (n,) = struct.unpack(">i", _recv_exact(sock, 4))
        return _recv_exact(sock, n)[4:]  # without the correlation id


def _topic_part(topic: str) -> bytes:
    return struct.pack(">ih", 1, len(topic)) + topic.encode() + struct.pack(">i", 1)


def _fetch_records(host: str, port: int, topic: str, offset: int = 0) -> bytes:
    """Records bytes of partition 0 from offset through Fetch v4 (the mock may answer with one batch only)."""
    body = struct.pack(">iiiib", -1, 100, 1, 1 << 20, 0) + _topic_part(topic) + struct.pack(">iqi", 0, offset, 1 << 20)
    resp = _call(host, port, 1, 4, body)
    p = 4 + 4  # throttle, topic count
    (tlen,) = struct.unpack_from(">h", resp, p)
    p += 2 + tlen + 4
    _part, err, _hw, _lso, naborted = struct.unpack_from(">ihqqi", resp, p)
    assert err == 0
    p += 26 + 16 * max(naborted, 0)
    (rlen,) = struct.unpack_from(">i", resp, p)
    return resp[p + 4 : p + 4 + rlen]


def _produce(host: str, port: int, topic: str, records: bytes) -> int:
    """Error code of a Produce v3 of records to partition 0."""
    body = struct.pack(">hhi", -1, 1, 5000) + _topic_part(topic) + struct.pack(">ii", 0, len(records)) + records
    resp = _call(host, port, 0, 3, body)
    (tlen,) = struct.unpack_from(">h", resp, 4)
    return struct.unpack_from(">h", resp, 4 + 2 + tlen + 4 + 4)[0]


def _mock_producer(codec: str) -> tuple[object, str, int]:
    producer = ck.Producer({"test.mock.num.brokers": 1, "compression.type": codec, "linger.ms": 5, "log_level": 0})
    md = producer.list_topics(timeout=5)
    broker = next(iter(md.brokers.values()))
    return producer, broker.host, broker.port


@needs_librdkafka
@pytest.mark.timeout(60)
@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_librdkafka_batches_decode(codec: str) -> None:
    producer, host, port = _mock_producer(codec)
    topic = f"from-librdkafka-{codec}"
    for i in range(40):
        producer.produce(topic, key=b"k%d" % i, value=b"value-%d-" % i + b"x" * 40, headers=[("h", b"%d" % i)], partition=0)
    assert producer.flush(10) == 0
    got: list[Record] = []
    deadline = time.monotonic() + 10
    while len(got) < 40 and time.monotonic() < deadline:
        data = _fetch_records(host, port, topic, len(got))
        for pos, h in iter_batches(data, check_crc=True):
            assert h.compression == CODECS_BY_NAME[codec]
            assert h.base_offset == len(got)
            got += decode_records(data[pos : pos + h.size])
    assert [(r.key, r.value, r.headers) for r in got] == [
        (b"k%d" % i, b"value-%d-" % i + b"x" * 40, [("h", b"%d" % i)]) for i in range(40)
    ]


CODECS_BY_NAME = {name: codec for codec, name in CODECS.items()}


@needs_librdkafka
@pytest.mark.timeout(60)
def test_librdkafka_reads_our_batches() -> None:
    producer, host, port = _mock_producer("none")
    topic = "from-kbroker"
    producer.produce(topic, key=b"first", value=b"from librdkafka", partition=0)  # creates the topic
    assert producer.flush(10) == 0
    expected = [(b"first", b"from librdkafka", None)]
    for codec in ALL:
        records = [Record(i, i, b"c%d-k%d" % (codec, i), b"v" * 300 + b"%d" % i, [("codec", b"%d" % codec)]) for i in range(30)]
        batch = build_batch(records, compression=codec, base_timestamp=1_700_000_000_000)
        assert _produce(host, port, topic, batch) == 0
        expected += [(r.key, r.value, 1_700_000_000_000 + r.timestamp_delta) for r in records]
    consumer = ck.Consumer(
        {"bootstrap.servers": f"{host}:{port}", "group.id": "kbroker-tests", "enable.auto.commit": False, "log_level": 0}
    )
    try:
        consumer.assign([ck.TopicPartition(topic, 0, 0)])
        got = []
        deadline = time.monotonic() + 20
        while len(got) < len(expected) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            got.append((msg.key(), msg.value(), msg.timestamp()[1]))
    finally:
        consumer.close()
    assert got[0][:2] == expected[0][:2]
    assert got[1:] == expected[1:]
