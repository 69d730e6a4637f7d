"""Codecs for every (api, version, request|response), built from the schema on first use and cached.

The broker's codecs are wire.fastcodec's: Python generated from the schema, specialised for Kafka's shapes. The
same schema also builds a construct codec (`Codec.interpreted`, and its compiled form `Codec.construct`), built
only when asked for: the tests check that both read and write every message alike. `decode_*` never lets an
arbitrary exception escape: whatever the generated code raises on hostile bytes ends as `DecodeError`, which
the server turns into an error answer or a close of that one connection.
"""
from __future__ import annotations

import functools
import struct
from dataclasses import dataclass, field
from io import BytesIO
from typing import TYPE_CHECKING, Any, Callable

from wire.primitives import WireError
from wire.schema import APIS
from wire.schema.dsl import MISSING, Api, Array, Field, Struct

if TYPE_CHECKING:
    from construct import Construct

    from wire.constructs import KStruct

_INTS = ("int8", "int16", "int32", "int64", "uint16", "uint32", "float64")

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


def _primitive(name: str, compact: bool, nullable: bool) -> "Construct":
    from construct import Float64b, Int8sb, Int16sb, Int16ub, Int32sb, Int32ub, Int64sb

    from wire.constructs import KBool, KBytes, KString, KUuid

    ints = {"int8": Int8sb, "int16": Int16sb, "int32": Int32sb, "int64": Int64sb, "uint16": Int16ub,
            "uint32": Int32ub, "float64": Float64b}
    if name in ints:
        return ints[name]
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


def struct_for(desc: Struct, version: int, flexible: bool) -> "KStruct":
    """The construct codec of one version of a message (the reference wire.fastcodec is checked against)."""
    from wire.constructs import KStruct, Member

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


def field_construct(fld: Field, version: int, flexible: bool) -> "Construct":
    from wire.constructs import KArray, KNullableStruct

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
    _decode: Callable[[bytes, int], tuple[Any, int]] = field(repr=False)
    _encode: Callable[[Any, Callable[[Any], Any]], None] = field(repr=False)

    def decode(self, data: bytes | memoryview, offset: int = 0) -> Any:
        """The message in data[offset:]; pass the whole frame and an offset rather than a slice, so that a large
        Produce request is not copied."""
        try:
            if type(data) is not bytes:
                data = bytes(data)
            return self._decode(data, offset)[0]
        except Exception as exc:  # hostile input may raise anything the parser touches
            raise DecodeError(f"{self.api.name} v{self.version} {self.kind}: {exc}") from exc

    def encode(self, obj: Any) -> bytes:
        buf = BytesIO()
        self._encode(obj, buf.write)
        return buf.getvalue()

    def encode_into(self, obj: Any, buf: BytesIO) -> None:
        self._encode(obj, buf.write)

    @functools.cached_property
    def interpreted(self) -> "KStruct":
        """The construct codec of the same schema (interpreted), built on first use."""
        desc = self.api.request if self.kind == "request" else self.api.response
        return struct_for(desc, self.version, self.api.is_flexible(self.version))

    @functools.cached_property
    def construct(self) -> Any:
        """The interpreted construct codec compiled by construct (for comparison in bench/codec_bench.py)."""
        return self.interpreted.compile()


@functools.lru_cache(maxsize=None)
def codec(api_key: int, version: int, kind: str) -> Codec:
    from wire import fastcodec

    api = APIS[api_key]
    lo, hi = api.valid
    if not lo <= version <= hi:
        raise KeyError(f"{api.name} has no version {version}")
    desc = api.request if kind == "request" else api.response
    decode, encode = fastcodec.build(desc, version, api.is_flexible(version), f"{api.name} v{version} {kind}")
    return Codec(api, version, kind, decode, encode)


_REQUESTS: dict[tuple[int, int], Codec] = {}
_RESPONSES: dict[tuple[int, int], Codec] = {}


def request_codec(api_key: int, version: int) -> Codec:
    found = _REQUESTS.get((api_key, version))
    if found is None:
        found = _REQUESTS[api_key, version] = codec(api_key, version, "request")
    return found


def response_codec(api_key: int, version: int) -> Codec:
    found = _RESPONSES.get((api_key, version))
    if found is None:
        found = _RESPONSES[api_key, version] = codec(api_key, version, "response")
    return found


# ---------------------------------------------------------------------------------------------------------------
# headers

_API_KEY_VERSION_CORR = struct.Struct(">hhi")
_HEADER_V1 = struct.Struct(">hhih")  # api key, version, correlation id, client id length
API_VERSIONS_KEY = 18


@dataclass(slots=True)
class RequestHeader:
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    flexible: bool
    size: int  # bytes of the header, so the body starts here
    tags: list[tuple[int, bytes]]


_FLEXIBLE: dict[tuple[int, int], bool] = {}


def request_is_flexible(api_key: int, version: int) -> bool:
    try:
        return _FLEXIBLE[api_key, version]
    except KeyError:
        api = APIS.get(api_key)
        flexible = _FLEXIBLE[api_key, version] = api is not None and api.is_flexible(version)
        return flexible


def decode_request_header(frame: bytes | memoryview) -> RequestHeader:
    """Header v1 or v2 (v2 when the API version is flexible); v0 is no longer sent by any client."""
    try:
        api_key, version, corr, n = _HEADER_V1.unpack_from(frame, 0)
        if n < 0:
            if n != -1:
                raise WireError(f"negative length {n}")
            client_id = None
            pos = 10
        else:
            pos = 10 + n
            if pos > len(frame):
                raise WireError("truncated client id")
            client_id = str(frame[10:pos], "utf-8")
        flexible = _FLEXIBLE.get((api_key, version))
        if flexible is None:
            flexible = request_is_flexible(api_key, version)
        tags: list[tuple[int, bytes]] = []
        if flexible:
            if frame[pos] == 0:
                pos += 1
            else:
                from wire import primitives as rt

                io = BytesIO(frame)
                io.seek(pos)
                tags = rt.read_tag_section(io)
                pos = io.tell()
        return RequestHeader(api_key, version, corr, client_id, flexible, pos, tags)
    except (struct.error, WireError, UnicodeDecodeError, IndexError) as exc:
        raise DecodeError(f"bad request header: {exc}") from exc


def encode_request_header(api_key: int, version: int, correlation_id: int, client_id: str | None) -> bytes:
    from wire import primitives as rt

    buf = BytesIO()
    buf.write(_API_KEY_VERSION_CORR.pack(api_key, version, correlation_id))
    rt.write_string(buf, client_id, False, True)
    if request_is_flexible(api_key, version):
        rt.write_tag_section(buf, [])
    return buf.getvalue()


_CORR = struct.Struct(">i")
_CORR_TAGS = struct.Struct(">iB")


def response_header(api_key: int, version: int, correlation_id: int) -> bytes:
    """Response header v0, or v1 (with an empty tag section) for flexible versions; ApiVersions always v0."""
    if api_key != API_VERSIONS_KEY and request_is_flexible(api_key, version):
        return _CORR_TAGS.pack(correlation_id, 0)
    return _CORR.pack(correlation_id)


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
