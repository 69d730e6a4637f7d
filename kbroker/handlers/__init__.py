"""One module per API, each declaring KEY, MIN, MAX and `async def handle(ctx, request)`.

The table built here serves both dispatch and the ApiVersions answer, so what is advertised is exactly what is
handled. A handler returns the response body as a dict (fields it leaves out take their schema defaults), or
None when the request gets no response (Produce with acks=0).
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from wire.schema import APIS

Handler = Callable[[Any, Any], Awaitable[dict | None]]


@dataclass(frozen=True)
class Entry:
    key: int
    min_version: int
    max_version: int
    handle: Handler
    name: str


def _discover() -> dict[int, Entry]:
    table: dict[int, Entry] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        key = getattr(module, "KEY", None)
        if key is None:
            continue
        if key in table:
            raise RuntimeError(f"API key {key} handled twice ({table[key].name}, {module.__name__})")
        lo, hi = APIS[key].valid
        if not lo <= module.MIN <= module.MAX <= hi:
            raise RuntimeError(f"{module.__name__}: versions {module.MIN}-{module.MAX} outside the schema's {lo}-{hi}")
        table[key] = Entry(key, module.MIN, module.MAX, module.handle, APIS[key].name)
    return dict(sorted(table.items()))


REGISTRY: dict[int, Entry] = _discover()
