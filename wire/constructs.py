"""Kafka's wire primitives as construct classes that compile.

construct has no Kafka-shaped strings, arrays or tagged fields, so these classes supply them. Each one both
interprets (`_parse`/`_build`, used to cross-check) and emits code for construct's compiler
(`_emitparse`/`_emitbuild`); the emitted code calls the checked readers and writers of wire.primitives.
Imported only when a construct codec is built (tests, cross-checks), never on the broker's request path.
"""
from __future__ import annotations

from io import BytesIO
from typing import Any, BinaryIO, Callable

from construct import Construct, Container, ListContainer

from wire.primitives import (_I8, fresh, read_bool, read_exact, read_bytes, read_count, read_string, read_tag_section,
                             read_uuid, write_bool, write_bytes, write_count, write_string, write_tag_section,
                             write_uuid)

RUNTIME_IMPORT = "from wire import primitives as rt"



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
