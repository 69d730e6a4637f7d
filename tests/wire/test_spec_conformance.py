"""Our schema agrees, version by version, with Kafka's own JSON message specs.

Point KBROKER_KAFKA_SPECS at a directory holding Kafka's `*Request.json` / `*Response.json` (apache/kafka,
clients/src/main/resources/common/message). For every API we describe and every version that both the JSON's
validVersions and our range cover, the fields present in that version must match ours in order, name (Kafka's name
in snake_case), type, nullability and tag, recursively; so must flexibility and every default the spec states.
Without the variable the tests read the copy of Kafka's files that kafka-python (a test dependency) ships in
kafka/protocol/schemas/resources; they skip, saying so, only when neither is there. An API whose files are in
neither skips by name.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from wire.codec import default_of
from wire.schema import APIS
from wire.schema.dsl import Api, Array, Field, Struct, Versions

SPECS_ENV = "KBROKER_KAFKA_SPECS"


def _bundled_specs() -> str | None:
    """Kafka's message JSON as kafka-python 3 ships it, if installed."""
    try:
        import kafka
    except ImportError:
        return None
    resources = Path(kafka.__file__).parent / "protocol" / "schemas" / "resources"
    return str(resources) if (resources / "ProduceRequest.json").is_file() else None


SPECS = os.environ.get(SPECS_ENV) or _bundled_specs()

needs_specs = pytest.mark.skipif(not SPECS, reason=f"{SPECS_ENV} is not set and kafka-python ships no specs")

_INT_TYPES = {"int8", "int16", "int32", "int64", "uint16", "uint32"}


# ---------------------------------------------------------------------------------------------------------------
# reading Kafka's JSON


def strip_comments(text: str) -> str:
    """Drop // and /* */ comments outside string literals (the specs are JSON plus comments)."""
    out = []
    i, n = 0, len(text)
    in_string = False
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == '"':
                in_string = False
            i += 1
        elif c == '"':
            in_string = True
            out.append(c)
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def load_spec(path: Path) -> dict:
    return json.loads(strip_comments(path.read_text(encoding="utf-8")))


def snake(name: str) -> str:
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


def versions(text: str | None) -> Versions | None:
    return Versions.parse(text)


def has(vs: Versions | None, version: int) -> bool:
    return vs is not None and version in vs


def parse_default(text: Any, type_name: str) -> Any:
    """A spec default: usually a string ("-1", "0x7fffffff", "null", "false"), now and then a bare JSON value."""
    if not isinstance(text, str):
        return float(text) if type_name == "float64" else text
    if text == "null":
        return None
    if type_name in _INT_TYPES:
        return int(text, 0)
    if type_name == "bool":
        return {"true": True, "false": False}[text.lower()]
    if type_name == "float64":
        return float(text)
    return text


# ---------------------------------------------------------------------------------------------------------------
# one version of a message as a comparable shape: [(name, type, nullable, tag), ...], structs nested


def spec_shape(fields: list[dict], version: int, flexible: bool, common: dict[str, list[dict]]) -> list[tuple]:
    shape = []
    for fld in fields:
        if not has(versions(fld.get("versions")), version):
            continue
        tag = fld.get("tag")
        tagged = tag is not None and flexible and has(versions(fld.get("taggedVersions", fld["versions"])), version)
        type_name: str = fld["type"]
        is_array = type_name.startswith("[]")
        item = type_name[2:] if is_array else type_name
        if item[:1].isupper():  # a struct, inline or common
            sub = fld.get("fields")
            if sub is None:
                sub = common[item]
            inner = ("struct", tuple(spec_shape(sub, version, flexible, common)))
            typ: Any = ("[]", inner) if is_array else inner
        else:
            typ = type_name
        nullable = has(versions(fld.get("nullableVersions")), version)
        shape.append((snake(fld["name"]), typ, nullable, tag if tagged else None))
    return shape


def our_shape(desc: Struct, version: int, flexible: bool) -> list[tuple]:
    """The fields as our codec lays them out in this version (a tagged field outside its tagged versions is absent)."""
    shape = []
    for fld in desc.fields:
        if not fld.present_in(version):
            continue
        if fld.tag is not None and not (flexible and fld.is_tagged_in(version)):
            continue
        shape.append((fld.name, _our_type(fld, version, flexible), fld.is_nullable_in(version), fld.tag))
    return shape


def _our_type(fld: Field, version: int, flexible: bool) -> Any:
    t = fld.type
    if isinstance(t, Array):
        if isinstance(t.item, Struct):
            return ("[]", ("struct", tuple(our_shape(t.item, version, flexible))))
        return "[]" + t.item
    if isinstance(t, Struct):
        return ("struct", tuple(our_shape(t, version, flexible)))
    return t


def shape_diff(ours: list[tuple], theirs: list[tuple], path: str = "") -> list[str]:
    """Readable differences between two shapes (empty when equal)."""
    if ours == theirs:
        return []
    problems = []
    our_names = [f[0] for f in ours]
    their_names = [f[0] for f in theirs]
    if our_names != their_names:
        problems.append(f"{path or '<top>'}: fields {our_names} != Kafka's {their_names}")
    for mine, kafka in zip(ours, theirs):
        if mine == kafka or mine[0] != kafka[0]:
            continue
        where = f"{path}.{mine[0]}" if path else mine[0]
        if mine[2] != kafka[2]:
            problems.append(f"{where}: nullable {mine[2]} != Kafka's {kafka[2]}")
        if mine[3] != kafka[3]:
            problems.append(f"{where}: tag {mine[3]} != Kafka's {kafka[3]}")
        a, b = mine[1], kafka[1]
        if isinstance(a, tuple) and isinstance(b, tuple) and a[0] == b[0]:
            if a[0] == "[]":
                a, b = a[1], b[1]
            if a[0] == "struct" and b[0] == "struct":
                problems += shape_diff(list(a[1]), list(b[1]), where)
                continue
        if a != b:
            problems.append(f"{where}: type {_type_text(a)} != Kafka's {_type_text(b)}")
    return problems


def _type_text(t: Any) -> str:
    if isinstance(t, str):
        return t
    if t[0] == "[]":
        return "[]" + _type_text(t[1])
    return "struct"


# ---------------------------------------------------------------------------------------------------------------
# defaults


def default_diff(desc: Struct, fields: list[dict], version: int, common: dict[str, list[dict]], path: str) -> list[str]:
    """Every default the spec states equals the value our codec uses for that field."""
    ours = {fld.name: fld for fld in desc.fields}
    problems = []
    for spec in fields:
        if not has(versions(spec.get("versions")), version):
            continue
        name = snake(spec["name"])
        fld = ours.get(name)
        if fld is None or not fld.present_in(version):
            continue  # reported by the shape comparison
        where = f"{path}.{name}" if path else name
        type_name: str = spec["type"]
        item = type_name[2:] if type_name.startswith("[]") else type_name
        if item[:1].isupper():
            sub_desc = fld.type.item if isinstance(fld.type, Array) else fld.type
            if isinstance(sub_desc, Struct):
                sub = spec.get("fields") or common[item]
                problems += default_diff(sub_desc, sub, version, common, where)
            continue
        if "default" in spec and not type_name.startswith("[]"):
            expected = parse_default(spec["default"], type_name)
            actual = default_of(fld, version)
            if expected != actual or type(expected) is not type(actual):
                problems.append(f"{where}: default {actual!r} != Kafka's {expected!r}")
    return problems


# ---------------------------------------------------------------------------------------------------------------
# the tests


def _spec_for(api: Api, kind: str) -> dict:
    assert SPECS
    path = Path(SPECS) / f"{api.name}{kind.capitalize()}.json"
    if not path.exists():
        pytest.skip(f"{path.name} is not in {SPECS}")
    spec = load_spec(path)
    assert spec.get("apiKey") == api.key, f"{path.name} has apiKey {spec.get('apiKey')}, we say {api.key}"
    assert spec.get("type") == kind
    return spec


def _common_versions(api: Api, spec: dict) -> list[int]:
    valid = versions(spec.get("validVersions"))
    if valid is None:
        pytest.skip(f"{spec['name']} has no valid versions in this copy of the specs")
    lo, hi = api.valid
    shared = [v for v in range(lo, hi + 1) if v in valid]
    if not shared:
        pytest.skip(f"{spec['name']}: this copy covers none of our versions {lo}-{hi}")
    return shared


def _commons(spec: dict) -> dict[str, list[dict]]:
    return {c["name"]: c["fields"] for c in spec.get("commonStructs", [])}


API_IDS = [f"{key}-{api.name}" for key, api in APIS.items()]


@needs_specs
@pytest.mark.parametrize("kind", ["request", "response"])
@pytest.mark.parametrize("api", list(APIS.values()), ids=API_IDS)
def test_fields_match_spec(api: Api, kind: str) -> None:
    spec = _spec_for(api, kind)
    common = _commons(spec)
    flexible_versions = versions(spec.get("flexibleVersions"))
    desc = api.request if kind == "request" else api.response
    problems = []
    for v in _common_versions(api, spec):
        flexible = has(flexible_versions, v)
        if flexible != api.is_flexible(v):
            problems.append(f"v{v}: flexible {api.is_flexible(v)} != Kafka's {flexible}")
            continue
        theirs = spec_shape(spec["fields"], v, flexible, common)
        problems += [f"v{v} {p}" for p in shape_diff(our_shape(desc, v, flexible), theirs)]
    assert not problems, f"{api.name} {kind} differs from {spec['name']}.json:\n" + "\n".join(problems)


@needs_specs
@pytest.mark.parametrize("kind", ["request", "response"])
@pytest.mark.parametrize("api", list(APIS.values()), ids=API_IDS)
def test_defaults_match_spec(api: Api, kind: str) -> None:
    spec = _spec_for(api, kind)
    common = _commons(spec)
    desc = api.request if kind == "request" else api.response
    problems = []
    for v in _common_versions(api, spec):
        problems += [f"v{v} {p}" for p in default_diff(desc, spec["fields"], v, common, "")]
    assert not problems, f"{api.name} {kind} defaults differ from {spec['name']}.json:\n" + "\n".join(problems)


def test_snake_case_rule() -> None:
    assert snake("TopicData") == "topic_data"
    assert snake("PartitionIndex") == "partition_index"
    assert snake("ThrottleTimeMs") == "throttle_time_ms"
    assert snake("IsInternal") == "is_internal"
    assert snake("ZkMigrationReady") == "zk_migration_ready"


def test_comment_stripping_keeps_strings() -> None:
    text = '{\n  // a comment\n  "about": "see http://example.org", /* block */ "v": "0+"\n}'
    assert json.loads(strip_comments(text)) == {"about": "see http://example.org", "v": "0+"}
