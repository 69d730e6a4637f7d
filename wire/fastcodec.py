"""Straight-line Python decoders and encoders generated from the schema, one pair per (api, version, kind).

The schema (wire.schema) stays the one description of every message; this module turns one version of it into
Python source the way construct's compiler does for wire.codec's construct codecs, but specialised for Kafka's
shapes: it reads with `unpack_from` at a position in the frame rather than through a stream, unpacks runs of
fixed-width fields with one struct call, builds plain dicts and lists, and writes through one `write` callable.
It follows exactly the layout and defaults of wire.codec.struct_for; the round-trip tests check both agree.

Hostile input raises (WireError, struct.error, IndexError, UnicodeDecodeError ...), which wire.codec turns into
DecodeError: every length is checked against the frame before it is sliced.
"""
from __future__ import annotations

import itertools
import struct
from io import BytesIO
from typing import Any, Callable

from wire.primitives import WireError
from wire.schema.dsl import Array, Struct

_FIXED = {"int8": "b", "int16": "h", "int32": "i", "int64": "q", "uint16": "H", "uint32": "I", "float64": "d",
          "bool": "?"}
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_BYTE = tuple(bytes((i,)) for i in range(256))


def _uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint too long")


def _uvarint_bytes(value: int) -> bytes:
    if value < 0:
        raise WireError(f"negative unsigned varint {value}")
    if value < 0x80:
        return _BYTE[value]
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _write_tags(w: Callable[[Any], Any], tags: list[tuple[int, bytes]]) -> None:
    w(_uvarint_bytes(len(tags)))
    for tag, data in sorted(tags, key=lambda t: t[0]):
        w(_uvarint_bytes(tag))
        w(_uvarint_bytes(len(data)))
        w(data)


def _short(n: int, avail: int) -> WireError:
    return WireError(f"truncated: wanted {n} bytes, {avail} left")


_RUNTIME: dict[str, Any] = {"_uvarint": _uvarint, "_uv": _uvarint_bytes, "_write_tags": _write_tags,
                            "WireError": WireError, "_I16": _I16, "_I32": _I32, "_B": _BYTE, "BytesIO": BytesIO,
                            "_short": _short}


class _Member:
    """One field as one version carries it (None spec: absent, takes its default)."""

    __slots__ = ("name", "type", "nullable", "default", "tag")

    def __init__(self, name: str, type_: Any, nullable: bool, default: Any, tag: int | None) -> None:
        self.name, self.type, self.nullable, self.default, self.tag = name, type_, nullable, default, tag


class _Generator:
    """Emits the functions of one codec into one namespace."""

    def __init__(self, version: int, flexible: bool) -> None:
        self.version = version
        self.flexible = flexible
        self.lines: list[str] = []
        self.ns: dict[str, Any] = dict(_RUNTIME)
        self.ids = itertools.count()
        self.structs: dict[tuple[int, str], str] = {}

    def const(self, value: Any) -> str:
        """An expression for a default value: a literal, or a fresh empty list."""
        if isinstance(value, list):
            if value:
                raise ValueError("non-empty list default")
            return "[]"
        text = repr(value)
        if eval(text) != value:  # noqa: S307 - our own schema defaults only
            raise ValueError(f"default {value!r} has no literal")
        return text

    def fixed(self, fmt: str) -> str:
        name = f"_S{next(self.ids)}"
        self.ns[name] = struct.Struct(">" + fmt)
        return name

    def members(self, desc: Struct) -> list[_Member]:
        from wire.codec import default_of

        out = []
        for fld in desc.fields:
            default = default_of(fld, self.version)
            nullable = fld.is_nullable_in(self.version)
            tagged = fld.tag is not None
            if not fld.present_in(self.version) or (tagged and not (self.flexible and fld.is_tagged_in(self.version))):
                out.append(_Member(fld.name, None, nullable, default, None))
            else:
                out.append(_Member(fld.name, fld.type, nullable, default, fld.tag if tagged else None))
        return out

    # -- decoding

    def read(self, t: Any, nullable: bool, var: str, ind: str, out: list[str]) -> None:
        """Statements reading one value of type t at buf[pos] into var, advancing pos."""
        if isinstance(t, str) and t in _FIXED:
            s = self.fixed(_FIXED[t])
            out.append(f"{ind}{var}, = {s}.unpack_from(buf, pos); pos += {self.ns[s].size}")
        elif t == "uuid":
            out.append(f"{ind}if pos + 16 > len(buf): raise _short(16, len(buf) - pos)")
            out.append(f"{ind}{var} = buf[pos:pos + 16]; pos += 16")
        elif t in ("string", "bytes", "records"):
            self.length(t != "string", ind, out)
            out.append(f"{ind}if n < 0:")
            if nullable:
                out.append(f"{ind}    if n != -1: raise WireError(f'negative length {{n}}')")
                out.append(f"{ind}    {var} = None")
            else:
                out.append(f"{ind}    raise WireError(f'null or negative length {{n}} for a non-nullable {t}')")
            out.append(f"{ind}else:")
            out.append(f"{ind}    end = pos + n")
            out.append(f"{ind}    if end > len(buf): raise _short(n, len(buf) - pos)")
            value = "str(buf[pos:end], 'utf-8')" if t == "string" else "buf[pos:end]"
            out.append(f"{ind}    {var} = {value}; pos = end")
        elif isinstance(t, Array):
            self.length(True, ind, out)
            out.append(f"{ind}if n < 0:")
            if nullable:
                out.append(f"{ind}    if n != -1: raise WireError(f'negative count {{n}}')")
                out.append(f"{ind}    {var} = None")
            else:
                out.append(f"{ind}    raise WireError(f'null or negative count {{n}} for a non-nullable array')")
            out.append(f"{ind}else:")
            if isinstance(t.item, Struct):
                fn = self.decoder(t.item)
                if self.min_size(t.item) > 0:
                    out.append(f"{ind}    if n > len(buf) - pos: raise WireError(f'{{n}} items cannot fit')")
                out.append(f"{ind}    {var} = []; _a = {var}.append")
                out.append(f"{ind}    for _ in range(n):")
                out.append(f"{ind}        _it, pos = {fn}(buf, pos); _a(_it)")
            else:
                out.append(f"{ind}    if n > len(buf) - pos: raise WireError(f'{{n}} items cannot fit')")
                out.append(f"{ind}    {var} = []; _a = {var}.append")
                out.append(f"{ind}    for _ in range(n):")
                self.read(t.item, False, "_it", ind + "        ", out)
                out.append(f"{ind}        _a(_it)")
        elif isinstance(t, Struct):
            fn = self.decoder(t)
            if nullable:
                out.append(f"{ind}if buf[pos] >= 0x80: pos += 1; {var} = None")
                out.append(f"{ind}else: {var}, pos = {fn}(buf, pos + 1)")
            else:
                out.append(f"{ind}{var}, pos = {fn}(buf, pos)")
        else:
            raise ValueError(f"unknown type {t!r}")

    def length(self, wide: bool, ind: str, out: list[str]) -> None:
        if self.flexible:
            out.append(f"{ind}n = buf[pos]")
            out.append(f"{ind}if n < 0x80: pos += 1; n -= 1")
            out.append(f"{ind}else: n, pos = _uvarint(buf, pos); n -= 1")
        elif wide:
            out.append(f"{ind}n, = _I32.unpack_from(buf, pos); pos += 4")
        else:
            out.append(f"{ind}n, = _I16.unpack_from(buf, pos); pos += 2")

    def min_size(self, desc: Struct) -> int:
        """Bytes an item of this struct takes at least (0 only for a struct with nothing to carry)."""
        return 1 if self.flexible or any(m.type is not None and m.tag is None for m in self.members(desc)) else 0

    def decoder(self, desc: Struct) -> str:
        key = (id(desc), "d")
        if key in self.structs:
            return self.structs[key]
        fn = f"_d{next(self.ids)}"
        self.structs[key] = fn
        members = self.members(desc)
        body: list[str] = []
        names: dict[str, str] = {}
        run: list[tuple[str, str]] = []  # consecutive fixed-width fields: (var, fmt)

        def flush() -> None:
            if not run:
                return
            s = self.fixed("".join(f for _, f in run))
            body.append(f"    {', '.join(v for v, _ in run)}, = {s}.unpack_from(buf, pos); pos += {self.ns[s].size}")
            run.clear()

        for i, m in enumerate(members):
            if m.type is None or m.tag is not None:
                continue
            var = f"v{i}"
            names[m.name] = var
            if isinstance(m.type, str) and m.type in _FIXED:
                run.append((var, _FIXED[m.type]))
                continue
            flush()
            self.read(m.type, m.nullable, var, "    ", body)
        flush()
        items = []
        for i, m in enumerate(members):
            if m.name in names:
                items.append(f"{m.name!r}: {names[m.name]}")
            else:
                items.append(f"{m.name!r}: {self.const(m.default)}")
        body.append(f"    r = {{{', '.join(items)}}}")
        tagged = [m for m in members if m.type is not None and m.tag is not None]
        if self.flexible:
            body.append("    if buf[pos] == 0: pos += 1")
            body.append("    else:")
            body.append("        nt, pos = _uvarint(buf, pos)")
            body.append("        for _ in range(nt):")
            body.append("            tag, pos = _uvarint(buf, pos)")
            body.append("            size, pos = _uvarint(buf, pos)")
            body.append("            end = pos + size")
            body.append("            if end > len(buf): raise _short(size, len(buf) - pos)")
            branch = "if"
            for m in tagged:
                sub = self.tag_decoder(m)
                body.append(f"            {branch} tag == {m.tag}: r[{m.name!r}] = {sub}(buf[pos:end])")
                branch = "elif"
            body.append(f"            {'else' if tagged else 'if True'}: "
                        "r.setdefault('_unknown_tags', []).append((tag, buf[pos:end]))")
            body.append("            pos = end")
        body.append("    return r, pos")
        self.lines.append(f"def {fn}(buf, pos):\n" + "\n".join(body) + "\n")
        return fn

    def tag_decoder(self, m: _Member) -> str:
        fn = f"_t{next(self.ids)}"
        body: list[str] = ["    pos = 0"]
        self.read(m.type, m.nullable, "v", "    ", body)
        self.lines.append(f"def {fn}(buf):\n" + "\n".join(body) + "\n    return v\n")
        return fn

    # -- encoding

    def compact_length(self, expr: str, ind: str, out: list[str]) -> None:
        """Write uvarint(expr + 1), one byte in the common case."""
        out.append(f"{ind}_n = {expr} + 1")
        out.append(f"{ind}w(_B[_n] if _n < 0x80 else _uv(_n))")

    def write(self, t: Any, nullable: bool, var: str, ind: str, out: list[str], not_none: bool = False) -> None:
        """Statements writing var (of type t) through w; not_none: var cannot be None (a member fetched with its
        non-null default), so the null branch is left out."""
        if isinstance(t, str) and t in _FIXED:
            out.append(f"{ind}w({self.fixed(_FIXED[t])}.pack({var}))")
        elif t == "uuid":
            out.append(f"{ind}if len({var}) != 16: raise WireError('a uuid is 16 bytes')")
            out.append(f"{ind}w({var})")
        elif t in ("string", "bytes", "records"):
            null = "b'\\x00'" if self.flexible else ("b'\\xff\\xff'" if t == "string" else "b'\\xff\\xff\\xff\\xff'")
            if not_none:
                sub = ind
            else:
                out.append(f"{ind}if {var} is None:")
                out.append(f"{ind}    {'w(' + null + ')' if nullable else 'raise WireError(' + repr('null for a non-nullable ' + t) + ')'}")
                out.append(f"{ind}else:")
                sub = ind + "    "
            if t == "string":
                out.append(f"{sub}{var} = {var}.encode('utf-8')")
            if self.flexible:
                self.compact_length(f"len({var})", sub, out)
            elif t == "string":
                out.append(f"{sub}if len({var}) > 0x7FFF: raise WireError('string too long')")
                out.append(f"{sub}w(_I16.pack(len({var})))")
            else:
                out.append(f"{sub}w(_I32.pack(len({var})))")
            out.append(f"{sub}w({var})")
        elif isinstance(t, Array):
            null = "b'\\x00'" if self.flexible else "b'\\xff\\xff\\xff\\xff'"
            if not_none:
                sub = ind
            else:
                out.append(f"{ind}if {var} is None:")
                out.append(f"{ind}    {'w(' + null + ')' if nullable else 'raise WireError(' + repr('null for a non-nullable array') + ')'}")
                out.append(f"{ind}else:")
                sub = ind + "    "
            if self.flexible:
                self.compact_length(f"len({var})", sub, out)
            else:
                out.append(f"{sub}w(_I32.pack(len({var})))")
            if isinstance(t.item, Struct):
                fn = self.encoder(t.item)
                out.append(f"{sub}for _it in {var}: {fn}(_it, w)")
            else:
                out.append(f"{sub}for _it in {var}:")
                self.write(t.item, False, "_it", sub + "    ", out)
        elif isinstance(t, Struct):
            fn = self.encoder(t)
            if nullable:
                out.append(f"{ind}if {var} is None: w(b'\\xff')")
                out.append(f"{ind}else: w(b'\\x01'); {fn}({var}, w)")
            else:
                out.append(f"{ind}{fn}({var}, w)")
        else:
            raise ValueError(f"unknown type {t!r}")

    def fetch(self, m: _Member, var: str, ind: str, out: list[str]) -> None:
        """Read a member's value from objd as the construct codec does (a missing or None non-nullable: default)."""
        if m.nullable:
            out.append(f"{ind}{var} = objd.get({m.name!r}, {self.const(m.default)})")
        else:
            out.append(f"{ind}{var} = objd.get({m.name!r})")
            out.append(f"{ind}if {var} is None: {var} = {self.const(m.default)}")

    def encoder(self, desc: Struct) -> str:
        key = (id(desc), "e")
        if key in self.structs:
            return self.structs[key]
        fn = f"_e{next(self.ids)}"
        self.structs[key] = fn
        members = self.members(desc)
        body = ["    if objd is None: objd = {}"]
        run: list[tuple[str, str]] = []

        def flush() -> None:
            if run:
                s = self.fixed("".join(f for _, f in run))
                body.append(f"    w({s}.pack({', '.join(v for v, _ in run)}))")
                run.clear()

        for i, m in enumerate(members):
            if m.type is None or m.tag is not None:
                continue
            var = f"v{i}"
            self.fetch(m, var, "    ", body)
            if isinstance(m.type, str) and m.type in _FIXED:
                run.append((var, _FIXED[m.type]))
                continue
            flush()
            self.write(m.type, m.nullable, var, "    ", body, not_none=not m.nullable and m.default is not None)
        flush()
        if self.flexible:
            tagged = [m for m in members if m.type is not None and m.tag is not None]
            body.append("    tags = objd.get('_unknown_tags')")
            if not tagged:
                body.append("    if tags: _write_tags(w, list(tags))")
                body.append("    else: w(b'\\x00')")
                self.lines.append(f"def {fn}(objd, w):\n" + "\n".join(body) + "\n")
                return fn
            body.append("    tags = list(tags) if tags else []")
            for i, m in enumerate(tagged):
                var = f"t{i}"
                self.fetch(m, var, "    ", body)
                sub = self.tag_encoder(m)
                body.append(f"    if {var} != {self.const(m.default)}: tags.append(({m.tag}, {sub}({var})))")
            body.append("    if tags: _write_tags(w, tags)")
            body.append("    else: w(b'\\x00')")
        self.lines.append(f"def {fn}(objd, w):\n" + "\n".join(body) + "\n")
        return fn

    def tag_encoder(self, m: _Member) -> str:
        fn = f"_u{next(self.ids)}"
        body = ["    b = BytesIO(); w = b.write"]
        self.write(m.type, m.nullable, "v", "    ", body)
        self.lines.append(f"def {fn}(v):\n" + "\n".join(body) + "\n    return b.getvalue()\n")
        return fn

    def compile(self, name: str) -> dict[str, Any]:
        source = "\n".join(self.lines)
        exec(compile(source, f"<fastcodec {name}>", "exec"), self.ns)  # noqa: S102 - generated from our schema
        self.ns["__source__"] = source
        return self.ns


def build(desc: Struct, version: int, flexible: bool, name: str) -> tuple[Callable[[bytes, int], tuple[Any, int]],
                                                                           Callable[[Any, Callable[[Any], Any]], None]]:
    """(decode(buf, pos) -> (message, end), encode(message, write)) for one version of a message."""
    gen = _Generator(version, flexible)
    dec, enc = gen.decoder(desc), gen.encoder(desc)
    ns = gen.compile(name)
    return ns[dec], ns[enc]


__all__ = ["build"]
