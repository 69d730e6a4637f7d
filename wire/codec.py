"""Codecs for every (api, version, request|response), built from the schema with construct and compiled.

Each codec is built on first use and cached. `decode_*` never lets an arbitrary exception escape: whatever
construct or the primitives raise on hostile bytes ends as `DecodeError`, which the server turns into an
error answer or a close of that one connection.
"""
from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from construct import Construct, Float64b, Int8sb, Int16sb, Int16ub, Int32sb, Int32ub, Int64sb

from wire.primitives import KArray, KBool, KBytes, KNullableStruct, KString, KStruct, KUuid, Member, WireError
from wire.schema import APIS
from wire.schema.dsl import MISSING, Api, Array, Field, Struct

_INTS: dict[str, Construct] = {
    "int8": Int8sb,
    "int16": Int16sb,
    "int32": Int32sb,
    "int64": Int64sb,
    "uint16": Int16ub,
    "uint32": Int32ub,
    "float64": Float64b,
}

_ZERO: dict[str, Any] = {
    "bool": False,
    "string": "",
    "bytes": b"",
    "records": b"",
    "uuid": bytes(16),
    "float64": 0.0,
}


class DecodeError(Exception):
    """A frame that cannot be decoded as the message it claims to be."""


def _primitive(name: str, compact: bool, nullable: bool) -> Construct:
    if name in _INTS:
        return _INTS[name]
    if name == "bool":
        return KBool()
    if name == "string":
        return KString(compact, nullable)
    if name in ("bytes", "records"):
        return KBytes(compact, nullable)
    if name == "uuid":
        return KUuid()
    raise ValueError(name)


def default_of(fld: Field, version: int) -> Any:
    """The value a field has when a message of this version does not carry it."""
    if fld.default is not MISSING:
        return fld.default
    if fld.is_nullable_in(version) and fld.tag is None and not isinstance(fld.type, Struct):
        return None
    t = fld.type
    if isinstance(t, Array):
        return []
    if isinstance(t, Struct):
        return None
    return _ZERO.get(t, 0)


def struct_for(desc: Struct, version: int, flexible: bool) -> KStruct:
    members = []
    for fld in desc.fields:
        nullable = fld.is_nullable_in(version)
        default = default_of(fld, version)
        tagged = fld.tag is not None
        if not fld.present_in(version) or (tagged and not (flexible and fld.is_tagged_in(version))):
            members.append(Member(fld.name, None, default, nullable, None))
            continue
        tag = fld.tag if tagged else None
        members.append(Member(fld.name, field_construct(fld, version, flexible), default, nullable, tag))
    return KStruct(members, flexible)


def field_construct(fld: Field, version: int, flexible: bool) -> Construct:
    nullable = fld.is_nullable_in(version)
    t = fld.type
    if isinstance(t, Array):
        item = struct_for(t.item, version, flexible) if isinstance(t.item, Struct) else _primitive(t.item, flexible, False)
        return KArray(item, flexible, nullable)
    if isinstance(t, Struct):
        sub = struct_for(t, version, flexible)
        return KNullableStruct(sub) if nullable else sub
    return _primitive(t, flexible, nullable)


@dataclass
class Codec:
    api: Api
    version: int
    kind: str  # "request" | "response"
    compiled: Any
    interpreted: KStruct

    def decode(self, data: bytes | memoryview, offset: int = 0) -> Any:
        """The message in data[offset:]; pass the whole frame and an offset rather than a slice, so that a large
        Produce request is not copied (BytesIO shares a bytes object's buffer until written to)."""
        try:
            io = BytesIO(data)
            io.seek(offset)
            return self.compiled.parsefunc(io, None)
        except Exception as exc:  # hostile input may raise anything the parser touches
            raise DecodeError(f"{self.api.name} v{self.version} {self.kind}: {exc}") from exc

    def encode(self, obj: Any) -> bytes:
        buf = BytesIO()
        self.compiled.buildfunc(obj, buf, None)
        return buf.getvalue()

    def encode_into(self, obj: Any, buf: BytesIO) -> None:
        self.compiled.buildfunc(obj, buf, None)


@functools.lru_cache(maxsize=None)
def codec(api_key: int, version: int, kind: str) -> Codec:
    api = APIS[api_key]
    lo, hi = api.valid
    if not lo <= version <= hi:
        raise KeyError(f"{api.name} has no version {version}")
    desc = api.request if kind == "request" else api.response
    kstruct = struct_for(desc, version, api.is_flexible(version))
    return Codec(api, version, kind, kstruct.compile(), kstruct)


def request_codec(api_key: int, version: int) -> Codec:
    return codec(api_key, version, "request")


def response_codec(api_key: int, version: int) -> Codec:
    return codec(api_key, version, "response")


# ---------------------------------------------------------------------------------------------------------------
# headers

_API_KEY_VERSION_CORR = struct.Struct(">hhi")
API_VERSIONS_KEY = 18


@dataclass
class RequestHeader:
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    flexible: bool
    size: int  # bytes of the header, so the body starts here
    tags: list[tuple[int, bytes]]


def request_is_flexible(api_key: int, version: int) -> bool:
    api = APIS.get(api_key)
    return api is not None and api.is_flexible(version)


def decode_request_header(frame: bytes | memoryview) -> RequestHeader:
    """Header v1 or v2 (v2 when the API version is flexible); v0 is no longer sent by any client."""
    from wire import primitives as rt

    try:
        api_key, version, corr = _API_KEY_VERSION_CORR.unpack_from(frame, 0)
        io = BytesIO(frame)
        io.seek(8)
        client_id = rt.read_string(io, False, True)
        flexible = request_is_flexible(api_key, version)
        tags = rt.read_tag_section(io) if flexible else []
        return RequestHeader(api_key, version, corr, client_id, flexible, io.tell(), tags)
    except (struct.error, WireError, UnicodeDecodeError) as exc:
        raise DecodeError(f"bad request header: {exc}") from exc


def encode_request_header(api_key: int, version: int, correlation_id: int, client_id: str | None) -> bytes:
    from wire import primitives as rt

    buf = BytesIO()
    buf.write(_API_KEY_VERSION_CORR.pack(api_key, version, correlation_id))
    rt.write_string(buf, client_id, False, True)
    if request_is_flexible(api_key, version):
        rt.write_tag_section(buf, [])
    return buf.getvalue()


def response_header(api_key: int, version: int, correlation_id: int) -> bytes:
    """Response header v0, or v1 (with an empty tag section) for flexible versions; ApiVersions always v0."""
    if api_key != API_VERSIONS_KEY and request_is_flexible(api_key, version):
        return struct.pack(">iB", correlation_id, 0)
    return struct.pack(">i", correlation_id)


def encode_request(api_key: int, version: int, correlation_id: int, client_id: str | None, body: Any) -> bytes:
    """A whole request frame without its size prefix (used by tests and tools that act as a client)."""
    return encode_request_header(api_key, version, correlation_id, client_id) + request_codec(api_key, version).encode(body)


def decode_response(api_key: int, version: int, frame: bytes) -> tuple[int, Any]:
    """(correlation_id, body) of a response frame without its size prefix."""
    from wire import primitives as rt

    io = BytesIO(frame)
    corr = struct.unpack(">i", io.read(4))[0]
    if api_key != API_VERSIONS_KEY and request_is_flexible(api_key, version):
        rt.read_tag_section(io)
    return corr, response_codec(api_key, version).decode(io.read())
