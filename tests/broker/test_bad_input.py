"""Bad input gets Kafka's error code or a clean close of that one connection; the broker and other clients carry on."""
from __future__ import annotations

import random
import struct

import pytest

from tests.rawclient import RawClient
from wire.codec import encode_request_header
from wire.records import batch_from_tuples as build_batch

API_VERSIONS, METADATA, PRODUCE = 18, 3, 0


def _healthy(bootstrap: str) -> None:
    with RawClient(bootstrap) as c:
        assert c.request(API_VERSIONS, 3, {"client_software_name": "t", "client_software_version": "1"})["error_code"] == 0


@pytest.fixture
def bystander(broker):
    """A client connected before the bad input and used after it."""
    c = RawClient(broker.bootstrap)
    c.request(API_VERSIONS, 0, {})
    yield c
    assert c.request(METADATA, 1, {"topics": None})["brokers"][0]["port"] == broker.port
    c.close()
    assert broker.alive()
    _healthy(broker.bootstrap)


def test_random_bytes_close_the_connection(broker, bystander) -> None:
    for seed in range(20):
        with RawClient(broker.bootstrap) as c:
            junk = random.Random(seed).randbytes(64 + seed * 13)  # the same junk every run
            c.sock.sendall(struct.pack(">i", len(junk)) + junk)
            # an answer (if the junk happened to parse) or a close; never a hang (socket.timeout fails the test)
            c.sock.settimeout(10)
            try:
                got = c.sock.recv(65536)
            except ConnectionResetError:
                got = b""
            assert got == b"" or len(got) >= 4, f"seed {seed}: {got!r}"
    assert broker.alive()


def test_frame_claiming_two_gigabytes_is_refused(broker, bystander) -> None:
    with RawClient(broker.bootstrap) as c:
        c.sock.sendall(struct.pack(">i", 2_000_000_000) + b"\x00\x12\x00\x00")
        assert c.is_closed_by_peer()


def test_negative_and_tiny_frame_sizes(broker, bystander) -> None:
    for size in (-1, 0, 3):
        with RawClient(broker.bootstrap) as c:
            c.sock.sendall(struct.pack(">i", size) + b"\x00" * max(size, 0))
            assert c.is_closed_by_peer()


def test_unknown_api_key_closes(broker, bystander) -> None:
    with RawClient(broker.bootstrap) as c:
        c.send_frame(struct.pack(">hhi", 999, 0, 7) + b"\x00\x00")
        assert c.is_closed_by_peer()


def test_unsupported_version_closes_except_api_versions(broker, bystander) -> None:
    with RawClient(broker.bootstrap) as c:
        c.send_frame(struct.pack(">hhi", METADATA, 99, 7) + b"\x00\x00")
        assert c.is_closed_by_peer()


def test_too_new_api_versions_gets_v0_unsupported_answer(broker, bystander) -> None:
    with RawClient(broker.bootstrap) as c:
        # a future flexible version: header v2 with tags; the broker answers in v0 with its ranges
        c.send_frame(struct.pack(">hhi", API_VERSIONS, 77, 42) + b"\x00\x01x\x00" + b"\x02a\x021\x00")
        frame = c.recv_frame()
        corr, error = struct.unpack_from(">ih", frame, 0)
        assert (corr, error) == (42, 35)  # UNSUPPORTED_VERSION
        count = struct.unpack_from(">i", frame, 6)[0]
        ranges = {struct.unpack_from(">hhh", frame, 10 + 6 * i) for i in range(count)}
        assert ranges == {(18, 0, 4)}  # KIP-511: only ApiVersions' own range, as Kafka answers


def test_truncated_request_closes(broker, bystander) -> None:
    full = encode_request_header(METADATA, 1, 5, "t") + struct.pack(">i", 3) + b"\x00\x01a"
    for cut in range(len(full) - 1, 9, -3):
        with RawClient(broker.bootstrap) as c:
            c.send_frame(full[:cut])
            assert c.is_closed_by_peer(), f"cut at {cut}"


def test_batch_with_wrong_crc_is_corrupt_message(broker, bystander) -> None:
    with RawClient(broker.bootstrap) as c:
        c.request(METADATA, 4, {"topics": [{"name": "crc-topic"}], "allow_auto_topic_creation": True})
        batch = bytearray(build_batch([(b"k", b"v", [], 1_700_000_000_000)]))
        batch[-1] ^= 0xFF
        body = {"transactional_id": None, "acks": -1, "timeout_ms": 5000,
                "topic_data": [{"name": "crc-topic", "partition_data": [{"index": 0, "records": bytes(batch)}]}]}
        resp = c.request(PRODUCE, 9, body)
        part = resp["responses"][0]["partition_responses"][0]
        assert part["error_code"] == 2  # CORRUPT_MESSAGE
        # and the connection is still usable
        good = {"transactional_id": None, "acks": -1, "timeout_ms": 5000,
                "topic_data": [{"name": "crc-topic", "partition_data": [
                    {"index": 0, "records": build_batch([(b"k", b"v", [], 1_700_000_000_000)])}]}]}
        part = c.request(PRODUCE, 9, good)["responses"][0]["partition_responses"][0]
        assert (part["error_code"], part["base_offset"]) == (0, 0)


def test_produce_to_unknown_partition(broker, bystander) -> None:
    with RawClient(broker.bootstrap) as c:
        c.request(METADATA, 4, {"topics": [{"name": "one-part"}], "allow_auto_topic_creation": True})
        body = {"acks": 1, "timeout_ms": 5000, "topic_data": [
            {"name": "one-part", "partition_data": [{"index": 5, "records": build_batch([(None, b"v", [], 1)])}]},
            {"name": "no-such-topic", "partition_data": [{"index": 0, "records": build_batch([(None, b"v", [], 1)])}]},
        ]}
        resp = c.request(PRODUCE, 8, body)
        codes = [t["partition_responses"][0]["error_code"] for t in resp["responses"]]
        assert codes == [3, 3]  # UNKNOWN_TOPIC_OR_PARTITION
