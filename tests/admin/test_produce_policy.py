"""The produce-path topic policy (kbroker.produce_policy): timestamp bounds, keys on compacted topics, and
broker-side recompression, on real batches; and end to end once the partition applies it."""
from __future__ import annotations

import time

import crc32c
import pytest

from kbroker.produce_policy import ProducePolicy, apply
from tests.admin.conftest import create_topic, fetch, produce, unique
from tests.rawclient import RawClient
from wire.errors import ErrorCode, KafkaError
from wire.records import Record, build_batch, decode_batch, iter_batches

NOW = 1_700_000_000_000
LONG_MAX = 2**63 - 1


def policy(**changes) -> ProducePolicy:  # type: ignore[no-untyped-def]
    base = dict(topic="t", partition=0, target_codec=None, log_append_time=False, before_max_ms=LONG_MAX,
                after_max_ms=3_600_000, compacted=False)
    base.update(changes)
    return ProducePolicy(**base)


def batch(*records: tuple[bytes | None, bytes | None, int], compression: int = 0, producer_id: int = -1) -> bytes:
    base = records[0][2]
    return build_batch([Record(i, ts - base, k, v, [("h", b"1")]) for i, (k, v, ts) in enumerate(records)],
                       base_timestamp=base, compression=compression, producer_id=producer_id,
                       producer_epoch=0 if producer_id >= 0 else -1, base_sequence=0 if producer_id >= 0 else -1)


def run(data: bytes, p: ProducePolicy) -> tuple[bytes, list]:
    batches = list(iter_batches(data))
    out, headers = apply(data, batches, p, NOW)
    return bytes(out), headers


def test_default_policy_leaves_batches_alone() -> None:
    data = batch((b"k", b"v", NOW), (None, b"v", NOW - 10**9))
    batches = list(iter_batches(data))
    out, headers = apply(data, batches, policy(), NOW)
    assert out is data and headers is batches


def test_timestamp_bounds() -> None:
    future = batch((b"k", b"v", NOW + 2 * 3_600_000))
    with pytest.raises(KafkaError) as info:
        run(future, policy())
    assert info.value.code == ErrorCode.INVALID_TIMESTAMP and "out of range" in info.value.record_errors[0][1]
    old = batch((b"k", b"v", NOW), (b"k", b"v", NOW - 120_000))
    run(old, policy())  # no lower bound by default
    with pytest.raises(KafkaError) as info:
        run(old, policy(before_max_ms=60_000))
    assert info.value.code == ErrorCode.INVALID_TIMESTAMP
    run(future, policy(log_append_time=True))  # LogAppendTime topics ignore producer timestamps


def test_compacted_topics_need_keys() -> None:
    run(batch((b"k", b"v", NOW)), policy(compacted=True))
    with pytest.raises(KafkaError) as info:
        run(batch((b"k", b"v", NOW), (None, b"v", NOW)), policy(compacted=True))
    assert info.value.code == ErrorCode.INVALID_RECORD
    assert info.value.record_errors == [(1, "Compacted topic cannot accept message without key in topic partition t-0.")]
    assert info.value.message == (
        "One or more records have been rejected due to 1 record errors in total, and only showing the first three "
        "errors at most: [RecordError(batchIndex=1, message='Compacted topic cannot accept message without key in "
        "topic partition t-0.')]")


@pytest.mark.parametrize("source,target", [(0, 4), (1, 0), (3, 2), (4, 4)])
def test_recompression_keeps_everything_but_the_codec(source: int, target: int) -> None:
    data = batch((b"a", b"1" * 100, NOW), (b"b", None, NOW + 5), compression=source, producer_id=42)
    out, headers = run(data, policy(target_codec=target))
    if source == target:
        assert out == data
    [(pos, header)] = headers
    original_header, original = decode_batch(data)
    new_header, records = decode_batch(out)
    assert header.compression == target
    assert [(r.offset_delta, r.timestamp_delta, r.key, r.value, r.headers) for r in records] == \
        [(r.offset_delta, r.timestamp_delta, r.key, r.value, r.headers) for r in original]
    for field in ("producer_id", "producer_epoch", "base_sequence", "last_offset_delta", "base_timestamp",
                  "max_timestamp"):
        assert getattr(new_header, field) == getattr(original_header, field), field


def test_policy_on_the_produce_path(raw: RawClient) -> None:
    import time

    now = int(time.time() * 1000)
    compacted, zstd = unique("keys"), unique("zstd")
    create_topic(raw, compacted, configs={"cleanup.policy": "compact"})
    create_topic(raw, zstd, configs={"compression.type": "zstd"})
    keyless = build_batch([Record(0, 0, None, b"v")], base_timestamp=now)
    assert produce(raw, compacted, 0, keyless)["error_code"] == ErrorCode.INVALID_RECORD
    future = build_batch([Record(0, 0, b"k", b"v")], base_timestamp=now + 7_200_000)
    assert produce(raw, zstd, 0, future)["error_code"] == ErrorCode.INVALID_TIMESTAMP
    plain = build_batch([Record(0, 0, b"k", b"v" * 500)], base_timestamp=now)
    assert produce(raw, zstd, 0, plain)["error_code"] == 0
    stored = fetch(raw, zstd, 0, 0)["records"]
    [(_, header)] = list(iter_batches(bytes(stored)))
    assert header.compression == 4


def test_client_batches_are_checked_before_the_topic_rewrites_them(raw: RawClient) -> None:
    """zstd is judged on what the client sent (a zstd topic takes Produce v3 of an uncompressed batch), size before
    key rules, and a payload that cannot be decoded for recompression is INVALID_RECORD for its partition."""
    now = int(time.time() * 1000)
    zstd, compacted, lz4 = unique("zstd-v3"), unique("big-keyless"), unique("lz4-bad")
    create_topic(raw, zstd, configs={"compression.type": "zstd"})
    create_topic(raw, compacted, configs={"cleanup.policy": "compact", "max.message.bytes": "2000"})
    create_topic(raw, lz4, configs={"compression.type": "lz4"})

    def send(topic: str, records: bytes, version: int) -> int:
        body = {"acks": -1, "timeout_ms": 5000,
                "topic_data": [{"name": topic, "partition_data": [{"index": 0, "records": records}]}]}
        return raw.request(0, version, body)["responses"][0]["partition_responses"][0]["error_code"]

    assert send(zstd, batch((b"k", b"v", now)), 3) == 0
    assert [h.compression for _, h in iter_batches(fetch(raw, zstd, 0, 0)["records"])] == [4]
    assert send(compacted, batch((None, b"x" * 5000, now)), 9) == ErrorCode.MESSAGE_TOO_LARGE
    broken = bytearray(batch((b"k", b"v" * 200, now), compression=1))
    broken[70:80] = b"\x00" * 10  # inside the gzip payload
    broken[17:21] = crc32c.crc32c(bytes(broken[21:])).to_bytes(4, "big")  # a valid CRC over a bad payload
    assert send(lz4, bytes(broken), 9) == ErrorCode.INVALID_RECORD
    assert send(lz4, batch((b"k", b"ok", now)), 9) == 0  # and the connection is still usable


@pytest.mark.parametrize("codec,name,levels", [(1, "gzip", ("1", "9")), (3, "lz4", ("1", "17")),
                                                (4, "zstd", ("1", "19"))])
def test_recompression_uses_the_topic_compression_level(raw: RawClient, codec: int, name: str,
                                                          levels: tuple[str, str]) -> None:
    """KIP-390: compression.<codec>.level decides how the broker recompresses; the stored payload is what that
    level produces, and the two levels give different bytes."""
    from wire import compression

    now = int(time.time() * 1000)
    text = b" ".join(b"word%d" % ((i * 7919) % 1000) for i in range(3000))
    records = [Record(i, 0, b"k%d" % i, text[i * 500:(i + 1) * 500] * 4) for i in range(20)]
    plain = build_batch(records, base_timestamp=now)
    payloads = []
    for level in levels:
        topic = unique(f"level-{name}")
        create_topic(raw, topic, configs={"compression.type": name, f"compression.{name}.level": level})
        assert produce(raw, topic, 0, plain)["error_code"] == 0
        stored = bytes(fetch(raw, topic, 0, 0)["records"])
        [(_, header)] = list(iter_batches(stored))
        assert header.compression == codec
        payload = stored[61:header.size]
        body = compression.decompress(codec, payload)
        assert payload == compression.compress(codec, body, int(level))
        payloads.append(payload)
    assert payloads[0] != payloads[1]
    if codec == 1:  # gzip's XFL byte says which: 4 fastest (level 1), 2 best (level 9)
        assert (payloads[0][8], payloads[1][8]) == (4, 2)


def _alter(raw: RawClient, resource_type: int, name: str, key: str, value: str | None) -> None:
    body = {"resources": [{"resource_type": resource_type, "resource_name": name,
                           "configs": [{"name": key, "config_operation": 0 if value is not None else 1,
                                        "value": value}]}], "validate_only": False}
    [result] = raw.request(44, 1, body)["responses"]
    assert result["error_code"] == 0, result


def test_policy_follows_config_changes(raw: RawClient) -> None:
    """The policy is cached per topic between requests: a change of the topic's or the broker's configs applies
    to the very next Produce."""
    now = int(time.time() * 1000)
    topic = unique("policy-changes")
    create_topic(raw, topic)
    keyless = batch((None, b"v", now))
    assert produce(raw, topic, 0, keyless)["error_code"] == 0
    _alter(raw, 2, topic, "cleanup.policy", "compact")
    assert produce(raw, topic, 0, keyless)["error_code"] == ErrorCode.INVALID_RECORD
    _alter(raw, 2, topic, "cleanup.policy", None)
    assert produce(raw, topic, 0, keyless)["error_code"] == 0

    ahead = batch((b"k", b"v", now + 600_000))  # ten minutes ahead: within the default bound of an hour
    assert produce(raw, topic, 0, ahead)["error_code"] == 0
    _alter(raw, 4, "", "log.message.timestamp.after.max.ms", "60000")  # the cluster-wide broker default
    try:
        assert produce(raw, topic, 0, ahead)["error_code"] == ErrorCode.INVALID_TIMESTAMP
    finally:
        _alter(raw, 4, "", "log.message.timestamp.after.max.ms", None)
    assert produce(raw, topic, 0, ahead)["error_code"] == 0


def test_timestamp_bounds_read_the_records_when_the_header_cannot_be_trusted() -> None:
    # sarama 1.22 leaves maxTimestamp at -1: the upper bound is checked against the records' timestamps
    late = build_batch([Record(0, 0, b"k", b"v"), Record(1, 2 * 3_600_000, b"k", b"v")], base_timestamp=NOW,
                       max_timestamp=-1)
    with pytest.raises(KafkaError) as info:
        run(late, policy())
    assert info.value.code == ErrorCode.INVALID_TIMESTAMP
    # records without timestamps (librdkafka given -1: maxTimestamp 0 over records of -1) are not bounded
    untimed = build_batch([Record(i, 0, b"k", b"v") for i in range(3)], base_timestamp=-1, max_timestamp=0)
    run(untimed, policy(before_max_ms=60_000))
