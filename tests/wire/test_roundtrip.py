"""Every message in the registry survives encode -> decode -> encode, in every version, request and response.

Values are drawn from a strategy derived from the schema description itself (wire.schema.dsl), so a new API or
version is covered as soon as it is registered. For each drawn value:

- decoding its encoding gives the value back (compared on the fields the version carries);
- the decoded message has every field of the description (absent ones at their defaults);
- encoding the decoded message gives the same bytes;
- the interpreted construct parses and builds exactly like the compiled one.
"""
from __future__ import annotations

import functools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wire.codec import codec, default_of
from wire.schema import APIS
from wire.schema.dsl import Array, Field, Struct

ROUNDTRIP = settings(
    max_examples=15,
    deadline=None,  # the first example of a case also compiles its codec
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_INT_BITS = {"int8": (8, True), "int16": (16, True), "int32": (32, True), "int64": (64, True),
             "uint16": (16, False), "uint32": (32, False)}

_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=6)


def _primitive(name: str) -> st.SearchStrategy[Any]:
    if name in _INT_BITS:
        bits, signed = _INT_BITS[name]
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        # the edges are where sign and width mistakes show
        return st.one_of(st.sampled_from([lo, hi, -1 if signed else 1, 0]), st.integers(lo, hi))
    if name == "bool":
        return st.booleans()
    if name == "float64":
        return st.floats(allow_nan=False)
    if name == "string":
        return _TEXT
    if name in ("bytes", "records"):
        return st.binary(max_size=8)
    if name == "uuid":
        return st.binary(min_size=16, max_size=16)
    raise AssertionError(f"no strategy for {name!r}")


def _carried(fld: Field, version: int, flexible: bool) -> bool:
    """Whether a message of this version carries the field on the wire (the codec's rule)."""
    if not fld.present_in(version):
        return False
    return fld.tag is None or (flexible and fld.is_tagged_in(version))


def _field_strategy(fld: Field, version: int, flexible: bool) -> st.SearchStrategy[Any]:
    t = fld.type
    if isinstance(t, Array):
        item = _struct_strategy(t.item, version, flexible) if isinstance(t.item, Struct) else _primitive(t.item)
        base = st.lists(item, max_size=3)
    elif isinstance(t, Struct):
        base = _struct_strategy(t, version, flexible)
    else:
        base = _primitive(t)
    if fld.is_nullable_in(version):
        base = st.one_of(st.none(), base)
    if fld.tag is not None:
        # a tagged field left at its default is not written at all; exercise both paths
        base = st.one_of(st.just(default_of(fld, version)), base)
    return base


def _struct_strategy(desc: Struct, version: int, flexible: bool) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {fld.name: _field_strategy(fld, version, flexible) for fld in desc.fields if _carried(fld, version, flexible)}
    )


@functools.lru_cache(maxsize=None)
def message_strategy(api_key: int, version: int, kind: str) -> st.SearchStrategy[dict]:
    api = APIS[api_key]
    return _struct_strategy(getattr(api, kind), version, api.is_flexible(version))


def _plain(value: Any) -> Any:
    """construct's Container/ListContainer as plain dicts and lists (Container's == skips `_` keys)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _project(desc: Struct, version: int, flexible: bool, value: Any) -> Any:
    """Only the fields this version carries, recursively."""
    out = {}
    for fld in desc.fields:
        if not _carried(fld, version, flexible):
            continue
        v = value[fld.name]
        t = fld.type
        if v is not None and isinstance(t, Array) and isinstance(t.item, Struct):
            v = [_project(t.item, version, flexible, item) for item in v]
        elif v is not None and isinstance(t, Struct):
            v = _project(t, version, flexible, v)
        out[fld.name] = v
    return out


def _check_every_field(desc: Struct, version: int, flexible: bool, value: Any, path: str) -> None:
    """A decoded struct has a key for every field of the description, carried in this version or not."""
    names = {fld.name for fld in desc.fields}
    assert names <= set(value), f"{path}: missing {sorted(names - set(value))}"
    for fld in desc.fields:
        v, t = value[fld.name], fld.type
        if not _carried(fld, version, flexible) or v is None:
            continue
        if isinstance(t, Array) and isinstance(t.item, Struct):
            for i, item in enumerate(v):
                _check_every_field(t.item, version, flexible, item, f"{path}.{fld.name}[{i}]")
        elif isinstance(t, Struct):
            _check_every_field(t, version, flexible, v, f"{path}.{fld.name}")


CASES = [
    pytest.param(key, version, kind, id=f"{api.name}-v{version}-{kind}")
    for key, api in APIS.items()
    for version in range(api.valid[0], api.valid[1] + 1)
    for kind in ("request", "response")
]


def test_registry_is_not_empty() -> None:
    assert CASES


@pytest.mark.parametrize(("api_key", "version", "kind"), CASES)
@ROUNDTRIP
@given(data=st.data())
def test_roundtrip(api_key: int, version: int, kind: str, data: st.DataObject) -> None:
    api = APIS[api_key]
    desc: Struct = getattr(api, kind)
    flexible = api.is_flexible(version)
    c = codec(api_key, version, kind)
    value = data.draw(message_strategy(api_key, version, kind), label="message")

    encoded = c.encode(value)
    decoded = c.decode(encoded)
    assert _project(desc, version, flexible, _plain(decoded)) == _project(desc, version, flexible, value)
    _check_every_field(desc, version, flexible, decoded, api.name)
    assert c.encode(decoded) == encoded

    # the interpreted construct agrees with the compiled one, both ways
    assert c.interpreted.build(value) == encoded
    assert _plain(c.interpreted.parse(encoded)) == _plain(decoded)

