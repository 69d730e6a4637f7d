"""The schema index (wire.schema.MODULES) names every schema module, each under the key its API declares."""
from __future__ import annotations

import importlib
import pkgutil

import wire.schema
from wire.schema import APIS, MODULES
from wire.schema.dsl import Api


def test_index_matches_the_modules() -> None:
    found = {}
    for info in pkgutil.iter_modules(wire.schema.__path__):
        if info.name == "dsl" or info.name.startswith("_"):
            continue
        desc = getattr(importlib.import_module(f"wire.schema.{info.name}"), "API", None)
        if isinstance(desc, Api):
            assert desc.key not in found, f"API key {desc.key} described twice"
            found[desc.key] = info.name
    assert found == MODULES


def test_lookup_loads_the_described_api() -> None:
    assert sorted(APIS) == sorted(MODULES) and len(APIS) == len(MODULES)
    for key in MODULES:
        assert APIS[key].key == key
    assert 9999 not in APIS and APIS.get(9999) is None
