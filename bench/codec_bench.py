"""How long the broker's codecs (wire.fastcodec) take on the hot paths, against construct's codecs of the same
schema (compiled by construct, and interpreted).

Usage: python bench/codec_bench.py   (prints microseconds per operation)
"""
from __future__ import annotations

import sys
import timeit
from io import BytesIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wire.codec import decode_request_header, encode_request_header, request_codec, response_codec  # noqa: E402
from wire.records import batch_from_tuples  # noqa: E402


def measure(label: str, fn, number: int) -> None:  # type: ignore[no-untyped-def]
    seconds = min(timeit.repeat(fn, number=number, repeat=3)) / number
    print(f"{label:58s} {seconds * 1e6:9.1f} µs")


def small() -> None:
    """The request-rate load's shapes: one 1-record batch in one partition, and its answer."""
    batch = batch_from_tuples([(None, b"x" * 100, [], 1_700_000_000_000)])
    for version in (7, 9):
        req = request_codec(0, version)
        data = req.encode({"transactional_id": None, "acks": 1, "timeout_ms": 30000,
                           "topic_data": [{"name": "rate", "partition_data": [{"index": 3, "records": batch}]}]})
        measure(f"Produce v{version} request decode, 1 partition 1 record, fastcodec", lambda: req.decode(data), 20000)
        measure(f"Produce v{version} request decode, construct compiled", lambda: req.construct.parse(data), 20000)
        resp = response_codec(0, version)
        body = {"responses": [{"name": "rate", "partition_responses": [
            {"index": 3, "error_code": 0, "base_offset": 42, "log_append_time_ms": -1, "log_start_offset": 0}]}],
            "throttle_time_ms": 0}
        measure(f"Produce v{version} response encode, fastcodec", lambda: resp.encode(body), 20000)
        measure(f"Produce v{version} response encode, construct compiled", lambda: resp.construct.build(body), 20000)
    header = encode_request_header(0, 9, 7, "rdkafka") + b"\0"
    measure("request header v2 decode", lambda: decode_request_header(header), 20000)


def main() -> None:
    small()
    batch = batch_from_tuples([(b"k%d" % i, b"v" * 100, [], 1_700_000_000_000 + i) for i in range(150)])
    produce = {"transactional_id": None, "acks": -1, "timeout_ms": 30000,
               "topic_data": [{"name": "topic-%d" % t, "partition_data": [{"index": p, "records": batch}
                                                                          for p in range(4)]} for t in range(2)]}
    for version in (7, 9, 11):
        codec = request_codec(0, version)
        data = codec.encode(produce)
        measure(f"Produce v{version} request decode ({len(data)} B, 8 partitions), fastcodec",
                lambda: codec.decode(data), 2000)
        measure(f"Produce v{version} request decode, construct compiled",
                lambda: codec.construct.parse(data), 2000)
        measure(f"Produce v{version} request decode, interpreted construct",
                lambda: codec.interpreted.parse(data), 200)

    records = batch * 60  # ~1 MB
    fetch = {"throttle_time_ms": 0, "error_code": 0, "session_id": 0, "responses": [
        {"topic": "t", "partitions": [{"partition_index": p, "error_code": 0, "high_watermark": 1000,
                                       "last_stable_offset": 1000, "log_start_offset": 0,
                                       "aborted_transactions": None, "preferred_read_replica": -1,
                                       "records": records} for p in range(1)]}]}
    for version in (11, 16):
        codec = response_codec(1, version)
        measure(f"Fetch v{version} response encode ({len(records) >> 10} KiB of records), fastcodec",
                lambda: codec.encode(fetch), 200)
        measure(f"Fetch v{version} response encode, construct compiled",
                lambda: codec.construct.build(fetch), 200)

    topics = [{"error_code": 0, "name": "topic-%d" % t, "topic_id": bytes(16), "is_internal": False,
               "partitions": [{"error_code": 0, "partition_index": p, "leader_id": 1, "leader_epoch": 0,
                               "replica_nodes": [1], "isr_nodes": [1], "offline_replicas": []} for p in range(10)]}
              for t in range(100)]
    metadata = {"brokers": [{"node_id": 1, "host": "localhost", "port": 9092, "rack": None}],
                "cluster_id": "x", "controller_id": 1, "topics": topics}
    codec = response_codec(3, 12)
    measure("Metadata v12 response encode (100 topics x 10 partitions), fastcodec", lambda: codec.encode(metadata), 50)
    measure("Metadata v12 response encode, construct compiled", lambda: codec.construct.build(metadata), 50)
    measure("Metadata v12 response encode, interpreted construct",
            lambda: codec.interpreted.build_stream(metadata, BytesIO()), 10)


if __name__ == "__main__":
    main()
