"""Kafka's wire primitives: small checked readers and writers over a stream.

The construct classes of wire.constructs interpret with them and emit code that calls them, so a truncated or
lying frame raises instead of yielding short values. This module imports no construct: the broker's own codecs
(wire.fastcodec) and header handling need only WireError and these functions.
"""
from __future__ import annotations

import struct
from io import BytesIO
from typing import Any, BinaryIO, Callable

_I8 = struct.Struct(">b")
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_F64 = struct.Struct(">d")


class WireError(ValueError):
    """The bytes do not form a valid message of the expected shape."""


# ---------------------------------------------------------------------------------------------------------------
# checked readers and writers called by emitted code


_MAX_LENGTH = 2**31 - 1  # no Kafka length field holds more (int32), and io.read() cannot take past sys.maxsize


def read_exact(io: BinaryIO, n: int) -> bytes:
    if n < 0:
        raise WireError(f"negative length {n}")
    if n > _MAX_LENGTH:
        raise WireError(f"length {n} beyond any Kafka field")
    data = io.read(n)
    if len(data) != n:
        raise WireError(f"truncated: wanted {n} bytes, got {len(data)}")
    return data


def uvarint(io: BinaryIO) -> int:
    result = 0
    shift = 0
    while True:
        b = io.read(1)
        if not b:
            raise WireError("truncated varint")
        byte = b[0]
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result
        shift += 7
        if shift > 63:
            raise WireError("varint too long")


def w_uvarint(io: BinaryIO, value: int) -> None:
    if value < 0:
        raise WireError(f"negative unsigned varint {value}")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    io.write(out)


def uvarint_bytes(value: int) -> bytes:
    buf = BytesIO()
    w_uvarint(buf, value)
    return buf.getvalue()


def _length(io: BinaryIO, compact: bool, wide: bool) -> int:
    """Length/count prefix: int16 (strings) or int32 (bytes, arrays), or compact uvarint(n + 1). -1 is null."""
    if compact:
        return uvarint(io) - 1
    return (_I32 if wide else _I16).unpack(read_exact(io, 4 if wide else 2))[0]


def _w_length(io: BinaryIO, n: int, compact: bool, wide: bool) -> None:
    if compact:
        w_uvarint(io, n + 1)
    else:
        io.write((_I32 if wide else _I16).pack(n))


def read_string(io: BinaryIO, compact: bool, nullable: bool) -> str | None:
    n = _length(io, compact, False)
    if n < 0:
        if nullable and n == -1:
            return None
        raise WireError(f"null or negative length {n} for a non-nullable string")
    return read_exact(io, n).decode("utf-8")


def write_string(io: BinaryIO, value: str | None, compact: bool, nullable: bool) -> None:
    if value is None:
        if not nullable:
            raise WireError("null given for a non-nullable string")
        _w_length(io, -1, compact, False)
        return
    data = value.encode("utf-8")
    if not compact and len(data) > 0x7FFF:
        raise WireError("string too long")
    _w_length(io, len(data), compact, False)
    io.write(data)


def read_bytes(io: BinaryIO, compact: bool, nullable: bool) -> bytes | None:
    n = _length(io, compact, True)
    if n < 0:
        if nullable and n == -1:
            return None
        raise WireError(f"null or negative length {n} for non-nullable bytes")
    return read_exact(io, n)


def write_bytes(io: BinaryIO, value: Any, compact: bool, nullable: bool) -> None:
    if value is None:
        if not nullable:
            raise WireError("null given for non-nullable bytes")
        _w_length(io, -1, compact, True)
        return
    _w_length(io, len(value), compact, True)
    io.write(value)


def read_count(io: BinaryIO, compact: bool, nullable: bool) -> int:
    n = _length(io, compact, True)
    if n < 0:
        if nullable and n == -1:
            return -1
        raise WireError(f"null or negative count {n} for a non-nullable array")
    return n


def write_count(io: BinaryIO, value: Any, compact: bool, nullable: bool) -> None:
    if value is None:
        if not nullable:
            raise WireError("null given for a non-nullable array")
        _w_length(io, -1, compact, True)
    else:
        _w_length(io, len(value), compact, True)


def read_uuid(io: BinaryIO) -> bytes:
    return read_exact(io, 16)


def write_uuid(io: BinaryIO, value: bytes) -> None:
    if len(value) != 16:
        raise WireError("a uuid is 16 bytes")
    io.write(value)


def read_bool(io: BinaryIO) -> bool:
    return read_exact(io, 1) != b"\x00"


def write_bool(io: BinaryIO, value: Any) -> None:
    io.write(b"\x01" if value else b"\x00")


def read_tag_section(io: BinaryIO) -> list[tuple[int, bytes]]:
    """The raw (tag, payload) pairs of a tagged-field section."""
    n = uvarint(io)
    out = []
    for _ in range(n):
        tag = uvarint(io)
        out.append((tag, read_exact(io, uvarint(io))))
    return out


def write_tag_section(io: BinaryIO, tags: list[tuple[int, bytes]]) -> None:
    w_uvarint(io, len(tags))
    for tag, data in sorted(tags, key=lambda t: t[0]):
        w_uvarint(io, tag)
        w_uvarint(io, len(data))
        io.write(data)


def fresh(value: Any) -> Any:
    """A default value safe to hand out (lists are mutable)."""
    return [] if isinstance(value, list) else value
