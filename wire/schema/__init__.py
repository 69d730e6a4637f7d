"""Every API message described once: one module per API, each defining `API`.

The registry is discovered from the modules of this package so that adding an API is adding a file.
"""
from __future__ import annotations

import importlib
import pkgutil

from wire.schema.dsl import Api


def _discover() -> dict[int, Api]:
    found: dict[int, Api] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name == "dsl" or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        desc = getattr(module, "API", None)
        if not isinstance(desc, Api):
            continue
        if desc.key in found:
            raise RuntimeError(f"API key {desc.key} described twice ({found[desc.key].name}, {desc.name})")
        found[desc.key] = desc
    return dict(sorted(found.items()))


APIS: dict[int, Api] = _discover()
