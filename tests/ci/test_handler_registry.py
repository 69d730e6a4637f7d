"""The handler index (kbroker.handlers.HANDLERS) agrees with the handler modules, and a broker starting up
imports neither the handler modules nor construct: the first request (ApiVersions) needs none of them."""
from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import kbroker.handlers
from kbroker.handlers import HANDLERS, REGISTRY
from wire.schema import APIS
from tests.conftest import ROOT


def test_index_matches_the_modules() -> None:
    found = {}
    for info in pkgutil.iter_modules(kbroker.handlers.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"kbroker.handlers.{info.name}")
        key = getattr(module, "KEY", None)
        if key is None:
            continue
        assert key not in found, f"API key {key} handled twice"
        lo, hi = APIS[key].valid
        assert lo <= module.MIN <= module.MAX <= hi, f"{info.name}: versions outside the schema's {lo}-{hi}"
        found[key] = (info.name, module.MIN, module.MAX)
    assert found == HANDLERS
    for key, entry in REGISTRY.items():
        assert entry.handle is importlib.import_module(f"kbroker.handlers.{HANDLERS[key][0]}").handle
        assert entry.name == APIS[key].name


def test_start_up_imports_no_handler_and_no_construct() -> None:
    """Import what `kbroker serve` imports and list the handler modules and construct it pulled in."""
    code = ("import sys, kbroker.cli, kbroker.app; "
            "print(sorted(m for m in sys.modules if m.startswith('kbroker.handlers.') or m == 'construct'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
