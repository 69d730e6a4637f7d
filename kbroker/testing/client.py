"""A small blocking Kafka client over kbroker's own wire codecs, for the fixture's helpers.

The helpers (create a topic, produce, read a topic back) use it rather than a client library, so they work with
no Kafka client installed, cost no client start-up, and behave the same against an in-process broker, a
subprocess or a container. It talks to one broker (kbroker is single-broker) and uses fixed, modern versions.
"""
from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from wire import records as rec
from wire.codec import decode_response, encode_request
from wire.errors import ErrorCode

PRODUCE_V, FETCH_V, LIST_OFFSETS_V, METADATA_V, CREATE_TOPICS_V, DELETE_TOPICS_V = 8, 11, 5, 9, 5, 5
LATEST, EARLIEST = -1, -2


class KafkaRequestError(Exception):
    def __init__(self, what: str, code: int, message: str | None = None) -> None:
        name = ErrorCode(code).name if code in ErrorCode._value2member_map_ else str(code)
        super().__init__(f"{what}: {name}" + (f" ({message})" if message else ""))
        self.code = code


@dataclass
class Message:
    """One record as read back: what a test usually asserts on."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)
    timestamp: int = -1


def _bytes(value: Any) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return str(value).encode()


class WireClient:
    def __init__(self, bootstrap: str, timeout: float = 30.0, client_id: str = "kbroker-testing") -> None:
        host, _, port = bootstrap.rpartition(":")
        self.sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client_id = client_id
        self.correlation = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "WireClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def send(self, api_key: int, version: int, body: dict) -> int:
        """Send one request without waiting for its answer (pipelining); its correlation id."""
        self.correlation += 1
        self.send_frame(encode_request(api_key, version, self.correlation, self.client_id, body))
        return self.correlation

    def send_frame(self, payload: bytes) -> None:
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)

    def recv_frame(self) -> bytes:
        size = struct.unpack(">i", self._recv(4))[0]
        return self._recv(size)

    def request(self, api_key: int, version: int, body: dict) -> Any:
        expected = self.send(api_key, version, body)
        corr, response = decode_response(api_key, version, self.recv_frame())
        if corr != expected:
            raise ConnectionError(f"correlation id {corr} != {expected}")
        return response

    def _recv(self, n: int) -> bytes:
        chunks = []
        while n:
            chunk = self.sock.recv(min(n, 1 << 20))
            if not chunk:
                raise ConnectionError("connection closed by the broker")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    # -- topics

    def create_topic(self, name: str, partitions: int = 1, config: dict[str, str] | None = None,
                     *, exist_ok: bool = False) -> None:
        body = {"topics": [{"name": name, "num_partitions": partitions, "replication_factor": -1, "assignments": [],
                            "configs": [{"name": k, "value": str(v)} for k, v in (config or {}).items()]}],
                "timeout_ms": 10000, "validate_only": False}
        result = self.request(19, CREATE_TOPICS_V, body)["topics"][0]
        code = result["error_code"]
        if code and not (exist_ok and code == ErrorCode.TOPIC_ALREADY_EXISTS):
            raise KafkaRequestError(f"CreateTopics {name}", code, result.get("error_message"))

    def delete_topic(self, name: str) -> None:
        result = self.request(20, DELETE_TOPICS_V, {"topic_names": [name], "timeout_ms": 10000})["responses"][0]
        if result["error_code"]:
            raise KafkaRequestError(f"DeleteTopics {name}", result["error_code"], result.get("error_message"))

    def partitions(self, topic: str) -> list[int]:
        body = {"topics": [{"name": topic}], "allow_auto_topic_creation": False,
                "include_topic_authorized_operations": False}
        meta = self.request(3, METADATA_V, body)["topics"][0]
        if meta["error_code"]:
            raise KafkaRequestError(f"Metadata {topic}", meta["error_code"])
        return sorted(p["partition_index"] for p in meta["partitions"])

    def topics(self) -> list[str]:
        body = {"topics": None, "allow_auto_topic_creation": False, "include_topic_authorized_operations": False}
        return sorted(t["name"] for t in self.request(3, METADATA_V, body)["topics"])

    # -- produce

    def produce(self, topic: str, partition: int,
                entries: Sequence[tuple[bytes | None, bytes | None, Sequence[tuple[str, bytes | None]] | None, int | None]],
                *, acks: int = -1) -> int:
        """Append one batch of (key, value, headers, timestamp) entries; the base offset it got."""
        batch = rec.batch_from_tuples(entries)
        body = {"transactional_id": None, "acks": acks, "timeout_ms": 10000,
                "topic_data": [{"name": topic, "partition_data": [{"index": partition, "records": batch}]}]}
        result = self.request(0, PRODUCE_V, body)["responses"][0]["partition_responses"][0]
        if result["error_code"]:
            raise KafkaRequestError(f"Produce {topic}-{partition}", result["error_code"], result.get("error_message"))
        return result["base_offset"]

    # -- offsets and reading

    def list_offset(self, topic: str, partition: int, timestamp: int = LATEST) -> int:
        body = {"replica_id": -1, "isolation_level": 0,
                "topics": [{"name": topic, "partitions": [{"partition_index": partition, "current_leader_epoch": -1,
                                                           "timestamp": timestamp}]}]}
        result = self.request(2, LIST_OFFSETS_V, body)["topics"][0]["partitions"][0]
        if result["error_code"]:
            raise KafkaRequestError(f"ListOffsets {topic}-{partition}", result["error_code"])
        return result["offset"]

    def fetch(self, topic: str, partition: int, offset: int, *, max_bytes: int = 8 << 20,
              max_wait_ms: int = 0) -> tuple[list[Message], int, int]:
        """(messages at or after offset, high watermark, next offset to fetch)."""
        body = {"replica_id": -1, "max_wait_ms": max_wait_ms, "min_bytes": 1, "max_bytes": max_bytes,
                "isolation_level": 0, "session_id": 0, "session_epoch": -1,
                "topics": [{"topic": topic, "partitions": [{"partition": partition, "current_leader_epoch": -1,
                                                            "fetch_offset": offset, "log_start_offset": -1,
                                                            "partition_max_bytes": max_bytes}]}],
                "forgotten_topics_data": [], "rack_id": ""}
        result = self.request(1, FETCH_V, body)["responses"][0]["partitions"][0]
        if result["error_code"]:
            raise KafkaRequestError(f"Fetch {topic}-{partition}@{offset}", result["error_code"])
        messages: list[Message] = []
        data = result["records"] or b""
        next_offset = offset
        pos = 0
        while pos + rec.HEADER_SIZE <= len(data):
            header = rec.parse_header(data, pos)
            if pos + header.size > len(data):
                break  # a partial batch at the end of the response
            if not header.is_control:
                for r in rec.iter_records(data, pos):
                    o = header.base_offset + r.offset_delta
                    if o >= offset:
                        messages.append(Message(topic, partition, o, r.key, r.value, list(r.headers),
                                                header.base_timestamp + r.timestamp_delta))
            next_offset = max(next_offset, header.last_offset + 1)
            pos += header.size
        return messages, result["high_watermark"], next_offset

    def read_all(self, topic: str, partition: int, *, start: int = EARLIEST, timeout: float = 30.0) -> list[Message]:
        """Every message from start (default: the log start) up to the high watermark at call time."""
        end = self.list_offset(topic, partition, LATEST)
        offset = self.list_offset(topic, partition, EARLIEST) if start == EARLIEST else start
        out: list[Message] = []
        deadline = time.monotonic() + timeout
        while offset < end:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic}-{partition} stopped at {offset} of {end}")
            messages, _, next_offset = self.fetch(topic, partition, offset)
            out.extend(m for m in messages if m.offset < end)
            if next_offset <= offset:
                time.sleep(0.01)
            offset = next_offset
        return out


def entries_of(values: Iterable[Any], key: Any = None, headers: Sequence[tuple[str, Any]] | None = None
               ) -> list[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]], int | None]]:
    """(key, value, headers, timestamp) tuples from plain values, or from (key, value) pairs."""
    hdrs = [(k, _bytes(v)) for k, v in (headers or [])]
    out = []
    for item in values:
        if isinstance(item, tuple) and len(item) == 2:
            out.append((_bytes(item[0]), _bytes(item[1]), hdrs, None))
        else:
            out.append((_bytes(key), _bytes(item), hdrs, None))
    return out
