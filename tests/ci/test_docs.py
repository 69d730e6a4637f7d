"""The docs a new user reads: the configuration reference lists every key with its default; the pages exist and
name what the code offers."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from kbroker.cli import parser
from kbroker.config import KEYS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))
import gen_configuration  # noqa: E402


@pytest.mark.parametrize("name", sorted(KEYS))
def test_configuration_doc_lists_every_key_with_its_default(name: str) -> None:
    text = (DOCS / "configuration.md").read_text()
    default = gen_configuration.render_default(KEYS[name].default)
    assert re.search(rf"^\| `{re.escape(name)}` \| `{re.escape(default)}`", text, re.M), (
        f"docs/configuration.md does not list {name} with default {default}: run python docs/gen_configuration.py")


def test_configuration_doc_lists_every_serve_flag() -> None:
    text = (DOCS / "configuration.md").read_text()
    serve = parser()._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    for action in serve._actions:
        for flag in action.option_strings:
            if flag.startswith("--") and flag != "--help":
                assert f"`{flag}" in text, f"{flag} is not in docs/configuration.md"


def test_configuration_doc_is_up_to_date() -> None:
    proc = subprocess.run([sys.executable, str(DOCS / "gen_configuration.py"), "--check"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, (
        f"docs/configuration.md is out of date (run python docs/gen_configuration.py): {proc.stdout}{proc.stderr}")


@pytest.mark.parametrize("page", ["quickstart.md", "pytest.md", "configuration.md", "fault-injection.md", "metrics.md"])
def test_pages_exist(page: str) -> None:
    assert (DOCS / page).stat().st_size > 500


def test_fault_injection_doc_names_every_kind_and_route() -> None:
    from kbroker.faults import KINDS

    text = (DOCS / "fault-injection.md").read_text()
    for kind in KINDS:
        assert f'"{kind}"' in text
    for route in ("/faults", "/faults/{id}", "/groups/{group}/expire", "/groups/{group}/members", "/health"):
        assert route in text


def test_metrics_doc_names_every_metric() -> None:
    pytest.importorskip("prometheus_client")
    from kbroker.testing import InProcessBroker

    text = (DOCS / "metrics.md").read_text()
    runner = InProcessBroker(metrics=True).start()
    try:
        exposition = runner.metrics_text()
    finally:
        runner.stop()
    names = set(re.findall(r"^# TYPE (\w+) ", exposition, re.M))
    assert names
    for name in names:
        assert name in text, f"{name} is not described in docs/metrics.md"
