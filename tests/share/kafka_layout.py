"""Response frames read by hand, field by field as Kafka's own message JSON lays them out
(clients/src/main/resources/common/message/*Response.json of Kafka 4.2), not through kbroker's schema: a test
that reads with this fails when kbroker's schema and Kafka's disagree."""
from __future__ import annotations

import struct
import uuid

from kbroker.testing.client import WireClient
from wire.codec import encode_request


class Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def _take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def int16(self) -> int:
        return self._take(">h")

    def int32(self) -> int:
        return self._take(">i")

    def uvarint(self) -> int:
        shift = value = 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7

    def compact_string(self) -> str | None:
        n = self.uvarint() - 1
        if n < 0:
            return None
        text = self.data[self.pos: self.pos + n].decode()
        self.pos += n
        return text

    def uuid(self) -> bytes:
        out = self.data[self.pos: self.pos + 16]
        self.pos += 16
        return out

    def compact_array_len(self) -> int:
        return self.uvarint() - 1

    def tags(self) -> dict[int, bytes]:
        out = {}
        for _ in range(self.uvarint()):
            tag, size = self.uvarint(), self.uvarint()
            out[tag] = self.data[self.pos: self.pos + size]
            self.pos += size
        return out

    def end(self) -> None:
        assert self.pos == len(self.data), f"{len(self.data) - self.pos} byte(s) left over"


def raw_request(client: WireClient, api: int, version: int, body: dict, *, flexible_header: bool = True) -> Reader:
    """Send a request (kbroker's codec only builds the request) and return a reader at the response body."""
    client.correlation += 1
    client.send_frame(encode_request(api, version, client.correlation, client.client_id, body))
    r = Reader(client.recv_frame())
    assert r.int32() == client.correlation
    if flexible_header:
        r.tags()
    return r


def random_uuid() -> bytes:
    return uuid.uuid4().bytes
