"""The vocabulary in which every API message is described once.

The shape follows Kafka's JSON message specs (versions, nullable versions, tagged fields, flexible versions)
so that a description can be checked line by line against the spec it was read from. Field names are the
snake_case of Kafka's names.
"""
from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Any, Sequence, Union

PRIMITIVES = frozenset(
    {"bool", "int8", "int16", "int32", "int64", "uint16", "uint32", "float64", "string", "bytes", "records", "uuid"}
)


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Versions:
    """An inclusive version range; `hi is None` means open-ended ("3+"), `lo > hi` means never."""

    lo: int
    hi: int | None

    @classmethod
    def parse(cls, text: str | None) -> "Versions | None":
        if text is None or text == "none":
            return None
        text = text.strip()
        if text.endswith("+"):
            return cls(int(text[:-1]), None)
        if "-" in text:
            lo, hi = text.split("-")
            return cls(int(lo), int(hi))
        return cls(int(text), int(text))

    def __contains__(self, version: int) -> bool:
        return version >= self.lo and (self.hi is None or version <= self.hi)


@dataclass(frozen=True)
class Struct:
    """A group of fields; as a field type it is a single (non-array) struct."""

    fields: tuple["Field", ...]

    def __init__(self, fields: Sequence["Field"]) -> None:
        object.__setattr__(self, "fields", tuple(fields))


@dataclass(frozen=True)
class Array:
    """An array of a primitive (`item` is a type name) or of structs."""

    item: Union[str, Struct]


FieldType = Union[str, Struct, Array]


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    versions: Versions
    nullable: Versions | None = None
    tag: int | None = None
    tagged_versions: Versions | None = None
    default: Any = MISSING

    def present_in(self, version: int) -> bool:
        return version in self.versions

    def is_tagged_in(self, version: int) -> bool:
        return self.tag is not None and self.tagged_versions is not None and version in self.tagged_versions

    def is_nullable_in(self, version: int) -> bool:
        return self.nullable is not None and version in self.nullable


def _to_type(spec: Any) -> FieldType:
    if isinstance(spec, (Struct, Array)):
        return spec
    if isinstance(spec, (list, tuple)):
        return Array(Struct(spec))
    if isinstance(spec, str):
        if spec.startswith("[]"):
            item = spec[2:]
            if item not in PRIMITIVES:
                raise ValueError(f"unknown array item type {item!r}")
            return Array(item)
        if spec not in PRIMITIVES:
            raise ValueError(f"unknown type {spec!r}")
        return spec
    raise TypeError(f"bad field type {spec!r}")


def f(
    name: str,
    type: Any,
    versions: str = "0+",
    *,
    nullable: str | None = None,
    tag: int | None = None,
    tagged: str | None = None,
    default: Any = MISSING,
) -> Field:
    """Describe one field. `type` is a primitive name, "[]prim", a list of fields (array of structs) or a Struct.

    `tagged` is Kafka's taggedVersions: the field then lives in the tagged-field section of those versions.
    """
    if tag is not None and tagged is None:
        tagged = versions
    return Field(
        name=name,
        type=_to_type(type),
        versions=Versions.parse(versions) or Versions(1, 0),
        nullable=Versions.parse(nullable),
        tag=tag,
        tagged_versions=Versions.parse(tagged),
        default=default,
    )


@dataclass(frozen=True)
class Api:
    """One API: its key, the versions described, the first flexible version, and both messages."""

    key: int
    name: str
    valid: tuple[int, int]
    flexible: int | None
    request: Struct = dc_field(repr=False)
    response: Struct = dc_field(repr=False)

    def is_flexible(self, version: int) -> bool:
        return self.flexible is not None and version >= self.flexible


def api(
    key: int,
    name: str,
    valid: tuple[int, int],
    flexible: int | None,
    request: Sequence[Field],
    response: Sequence[Field],
) -> Api:
    return Api(key, name, valid, flexible, Struct(request), Struct(response))
