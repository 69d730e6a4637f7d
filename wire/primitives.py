"""Kafka's wire primitives as construct classes that compile.

construct has no Kafka-shaped strings, arrays or tagged fields, so these classes supply them. Each one both
interprets (`_parse`/`_build`, used to cross-check) and emits code for construct's compiler
(`_emitparse`/`_emitbuild`); the emitted code calls the small checked readers and writers below, so a
truncated or lying frame raises instead of yielding short values.
"""
from __future__ import annotations

import struct
from io import BytesIO
from typing import Any, BinaryIO, Callable

from construct import Construct, Container, ListContainer

RUNTIME_IMPORT = "from wire import primitives as rt"

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


# ---------------------------------------------------------------------------------------------------------------
# construct classes


class _Leaf(Construct):
    """A primitive whose parse and build are one call each into this module."""

    reader: Callable[..., Any]
    writer: Callable[..., None]
    args: tuple[Any, ...] = ()

    def _parse(self, stream: BinaryIO, context: Any, path: str) -> Any:
        return type(self).reader(stream, *self.args)

    def _build(self, obj: Any, stream: BinaryIO, context: Any, path: str) -> Any:
        type(self).writer(stream, obj, *self.args)
        return obj

    def _emitparse(self, code: Any) -> str:
        code.append(RUNTIME_IMPORT)
        args = "".join(f", {a!r}" for a in self.args)
        return f"rt.{type(self).reader.__name__}(io{args})"

    def _emitbuild(self, code: Any) -> str:
        code.append(RUNTIME_IMPORT)
        args = "".join(f", {a!r}" for a in self.args)
        return f"rt.{type(self).writer.__name__}(io, obj{args})"


class KString(_Leaf):
    reader = staticmethod(read_string)
    writer = staticmethod(write_string)

    def __init__(self, compact: bool, nullable: bool) -> None:
        super().__init__()
        self.args = (compact, nullable)


class KBytes(_Leaf):
    reader = staticmethod(read_bytes)
    writer = staticmethod(write_bytes)

    def __init__(self, compact: bool, nullable: bool) -> None:
        super().__init__()
        self.args = (compact, nullable)


class KUuid(_Leaf):
    reader = staticmethod(read_uuid)
    writer = staticmethod(write_uuid)


class KBool(_Leaf):
    reader = staticmethod(read_bool)
    writer = staticmethod(write_bool)


class KArray(Construct):
    """Array with an int32 or compact count; -1/0 means null where the field is nullable."""

    def __init__(self, subcon: Construct, compact: bool, nullable: bool) -> None:
        super().__init__()
        self.subcon = subcon
        self.compact = compact
        self.nullable = nullable

    def _parse(self, stream: BinaryIO, context: Any, path: str) -> Any:
        n = read_count(stream, self.compact, self.nullable)
        if n < 0:
            return None
        return ListContainer(self.subcon._parse(stream, context, path) for _ in range(n))

    def _build(self, obj: Any, stream: BinaryIO, context: Any, path: str) -> Any:
        write_count(stream, obj, self.compact, self.nullable)
        for item in obj or ():
            self.subcon._build(item, stream, context, path)
        return obj

    def _emitparse(self, code: Any) -> str:
        code.append(RUNTIME_IMPORT)
        fname = f"karray_parse_{code.allocateId()}"
        code.append(
            f"""
            def {fname}(io, this):
                n = rt.read_count(io, {self.compact!r}, {self.nullable!r})
                if n < 0:
                    return None
                return ListContainer([{self.subcon._compileparse(code)} for _ in range(n)])
            """
        )
        return f"{fname}(io, this)"

    def _emitbuild(self, code: Any) -> str:
        code.append(RUNTIME_IMPORT)
        fname = f"karray_build_{code.allocateId()}"
        code.append(
            f"""
            def {fname}(items, io, this):
                rt.write_count(io, items, {self.compact!r}, {self.nullable!r})
                if items:
                    for obj in items:
                        {self.subcon._compilebuild(code)}
                return items
            """
        )
        return f"{fname}(obj, io, this)"


class KNullableStruct(Construct):
    """A struct-typed field that may be null: an int8 marker (-1 null, 1 present) then the struct."""

    def __init__(self, subcon: Construct) -> None:
        super().__init__()
        self.subcon = subcon

    def _parse(self, stream: BinaryIO, context: Any, path: str) -> Any:
        marker = _I8.unpack(read_exact(stream, 1))[0]
        return None if marker < 0 else self.subcon._parse(stream, context, path)

    def _build(self, obj: Any, stream: BinaryIO, context: Any, path: str) -> Any:
        if obj is None:
            stream.write(b"\xff")
        else:
            stream.write(b"\x01")
            self.subcon._build(obj, stream, context, path)
        return obj

    def _emitparse(self, code: Any) -> str:
        code.append(RUNTIME_IMPORT)
        fname = f"knstruct_parse_{code.allocateId()}"
        code.append(
            f"""
            def {fname}(io, this):
                if rt.read_exact(io, 1)[0] >= 0x80:
                    return None
                return {self.subcon._compileparse(code)}
            """
        )
        return f"{fname}(io, this)"

    def _emitbuild(self, code: Any) -> str:
        fname = f"knstruct_build_{code.allocateId()}"
        code.append(
            f"""
            def {fname}(obj, io, this):
                if obj is None:
                    io.write(b"\\xff")
                    return None
                io.write(b"\\x01")
                {self.subcon._compilebuild(code)}
                return obj
            """
        )
        return f"{fname}(obj, io, this)"


class Member:
    """One field of a KStruct as seen in a single version."""

    __slots__ = ("name", "subcon", "default", "nullable", "tag")

    def __init__(self, name: str, subcon: Construct | None, default: Any, nullable: bool, tag: int | None) -> None:
        self.name = name
        self.subcon = subcon  # None: not present in this version, parses as its default
        self.default = default
        self.nullable = nullable
        self.tag = tag


class KStruct(Construct):
    """A message struct for one version: regular members in order, then (flexible) the tagged section.

    Members absent from the version parse as their defaults so that handlers see every field; unknown tags
    are kept under `_unknown_tags` so that a message re-encodes to the same bytes.
    """

    def __init__(self, members: list[Member], flexible: bool) -> None:
        super().__init__()
        self.members = members
        self.flexible = flexible
        self.regular = [m for m in members if m.subcon is not None and m.tag is None]
        self.tagged = {m.tag: m for m in members if m.subcon is not None and m.tag is not None}
        self.absent = [m for m in members if m.subcon is None]

    # -- interpreted

    def _parse(self, stream: BinaryIO, context: Any, path: str) -> Any:
        result = Container()
        for m in self.regular:
            result[m.name] = m.subcon._parse(stream, context, path)
        for m in self.absent:
            result[m.name] = fresh(m.default)
        if self.flexible:
            for m in self.tagged.values():
                result[m.name] = fresh(m.default)
            unknown = []
            for tag, data in read_tag_section(stream):
                m = self.tagged.get(tag)
                if m is None:
                    unknown.append((tag, data))
                else:
                    result[m.name] = m.subcon._parse(BytesIO(data), context, path)
            if unknown:
                result["_unknown_tags"] = unknown
        return result

    def _value(self, obj: Any, m: Member) -> Any:
        value = obj.get(m.name, m.default) if m.nullable else obj.get(m.name)
        return fresh(m.default) if value is None and not m.nullable else value

    def _build(self, obj: Any, stream: BinaryIO, context: Any, path: str) -> Any:
        if obj is None:  # a struct-typed field left out: all its fields take their defaults
            obj = {}
        for m in self.regular:
            m.subcon._build(self._value(obj, m), stream, context, path)
        if self.flexible:
            tags = list(obj.get("_unknown_tags") or ())
            for tag, m in self.tagged.items():
                value = self._value(obj, m)
                if value != m.default:
                    buf = BytesIO()
                    m.subcon._build(value, buf, context, path)
                    tags.append((tag, buf.getvalue()))
            write_tag_section(stream, tags)
        return obj

    # -- compiled

    def _emitparse(self, code: Any) -> str:
        code.append(RUNTIME_IMPORT)
        fid = code.allocateId()
        fname = f"kstruct_parse_{fid}"
        lines = [f"def {fname}(io, this):", "    r = Container()"]
        for m in self.regular:
            lines.append(f"    r[{m.name!r}] = {m.subcon._compileparse(code)}")
        for m in self.absent:
            lines.append(f"    r[{m.name!r}] = {m.default!r}")
        if self.flexible:
            for m in self.tagged.values():
                lines.append(f"    r[{m.name!r}] = {m.default!r}")
            lines.append("    unknown = None")
            lines.append("    for tag, data in rt.read_tag_section(io):")
            branch = "if"
            for tag, m in self.tagged.items():
                sub = f"{fname}_tag{tag}"
                code.append(f"def {sub}(io, this):\n    return {m.subcon._compileparse(code)}\n")
                lines.append(f"        {branch} tag == {tag}:")
                lines.append(f"            r[{m.name!r}] = {sub}(BytesIO(data), this)")
                branch = "elif"
            lines.append("        else:" if self.tagged else "        if True:")
            lines.append("            if unknown is None:")
            lines.append("                unknown = r['_unknown_tags'] = []")
            lines.append("            unknown.append((tag, data))")
        lines.append("    return r")
        code.append("\n".join(lines) + "\n")
        return f"{fname}(io, this)"

    def _emitbuild(self, code: Any) -> str:
        code.append(RUNTIME_IMPORT)
        fid = code.allocateId()
        fname = f"kstruct_build_{fid}"
        lines = [f"def {fname}(objd, io, this):", "    if objd is None: objd = {}"]

        def fetch(m: Member) -> list[str]:
            if m.nullable:
                return [f"    obj = objd.get({m.name!r}, {m.default!r})"]
            return [f"    obj = objd.get({m.name!r})", f"    if obj is None: obj = {m.default!r}"]

        for m in self.regular:
            lines += fetch(m)
            lines.append(f"    {m.subcon._compilebuild(code)}")
        if self.flexible:
            lines.append("    tags = list(objd.get('_unknown_tags') or ())")
            for tag, m in self.tagged.items():
                sub = f"{fname}_tag{tag}"
                code.append(f"def {sub}(obj, io, this):\n    {m.subcon._compilebuild(code)}\n")
                lines += fetch(m)
                lines.append(f"    if obj != {m.default!r}:")
                lines.append("        buf = BytesIO()")
                lines.append(f"        {sub}(obj, buf, this)")
                lines.append(f"        tags.append(({tag}, buf.getvalue()))")
            lines.append("    rt.write_tag_section(io, tags)")
        lines.append("    return objd")
        code.append("\n".join(lines) + "\n")
        return f"{fname}(obj, io, this)"
