"""Old Produce (v0–2) and Fetch (v0–3) versions carry the legacy message formats: converted on the way in and out."""
from __future__ import annotations

import pytest

from tests.rawclient import RawClient
from wire.legacy import build_message_set, iter_messages
from wire.records import batch_from_tuples, decode_records, iter_batches

PRODUCE, FETCH, METADATA = 0, 1, 3


def _fetch(c: RawClient, topic: str, version: int) -> dict:
    body = {"replica_id": -1, "max_wait_ms": 0, "min_bytes": 0, "max_bytes": 1_000_000, "isolation_level": 0,
            "topics": [{"topic": topic, "partitions": [{"partition": 0, "fetch_offset": 0,
                                                        "partition_max_bytes": 1_000_000}]}]}
    return c.request(FETCH, version, body)["responses"][0]["partitions"][0]


@pytest.mark.parametrize("version,magic,codec", [(0, 0, 0), (1, 0, 1), (2, 1, 0), (2, 1, 1), (2, 1, 2), (2, 1, 3)])
def test_legacy_produce_lands_as_v2(shared_broker, version: int, magic: int, codec: int) -> None:
    topic = f"legacy-p{version}-{codec}"
    with RawClient(shared_broker.bootstrap) as c:
        c.request(METADATA, 1, {"topics": [{"name": topic}]})
        entries = [(i, 1_600_000_000_000 + i, b"k%d" % i, b"v%d" % i) for i in range(5)]
        body = {"acks": 1, "timeout_ms": 5000, "topic_data": [{"name": topic, "partition_data": [
            {"index": 0, "records": build_message_set(entries, magic=magic, compression=codec)}]}]}
        resp = c.request(PRODUCE, version, body)["responses"][0]["partition_responses"][0]
        assert (resp["error_code"], resp["base_offset"]) == (0, 0)
        # a modern fetch sees v2 batches with the same keys and values
        part = _fetch(c, topic, 11)
        values = [(r.key, r.value) for pos, _ in iter_batches(part["records"])
                  for r in decode_records(bytes(part["records"])[pos:])]
        assert values == [(b"k%d" % i, b"v%d" % i) for i in range(5)]


@pytest.mark.parametrize("version,magic", [(0, 0), (1, 0), (2, 1), (3, 1)])
def test_old_fetch_gets_legacy_messages(shared_broker, version: int, magic: int) -> None:
    topic = f"legacy-f{version}"
    with RawClient(shared_broker.bootstrap) as c:
        c.request(METADATA, 1, {"topics": [{"name": topic}]})
        batch = batch_from_tuples([(b"a", b"1", [], 1_600_000_000_000), (b"b", b"2", [("h", b"x")], 1_600_000_000_001)])
        body = {"acks": 1, "timeout_ms": 5000, "topic_data": [{"name": topic, "partition_data": [
            {"index": 0, "records": batch}]}]}
        assert c.request(PRODUCE, 7, body)["responses"][0]["partition_responses"][0]["error_code"] == 0
        part = _fetch(c, topic, version)
        assert part["error_code"] == 0 and part["high_watermark"] == 2
        msgs = list(iter_messages(part["records"]))
        assert [(m.offset, m.magic, m.key, m.value) for m in msgs] == [(0, magic, b"a", b"1"), (1, magic, b"b", b"2")]
