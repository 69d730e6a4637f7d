"""Broker fixtures: a real kbroker in a subprocess on a free port, reached over real sockets.

`BrokerProcess` is kbroker.testing's SubprocessBroker, the one the pytest plugin uses too. The plugin itself
(`kafka_broker`) comes through the pytest11 entry point once kbroker is installed (`make test` installs it);
from a bare checkout it is loaded here.
"""
from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Iterator

import pytest

from kbroker.testing.brokers import SubprocessBroker as BrokerProcess

ROOT = Path(__file__).resolve().parents[1]

if not any(ep.value == "kbroker.testing.plugin" for ep in entry_points(group="pytest11")):
    pytest_plugins = ["kbroker.testing.plugin"]

__all__ = ["BrokerProcess", "ROOT"]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    """A broker with its own data directory, for one test."""
    b = BrokerProcess(tmp_path / "data").start()
    yield b
    b.stop()


def module_broker(name: str, *extra: str, doc: str = "") -> Any:
    """A module-scoped fixture: one broker (its own data dir, `extra` command-line arguments) for a test module."""

    @pytest.fixture(scope="module")
    def fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
        b = BrokerProcess(tmp_path_factory.mktemp(name) / "data", *extra).start()
        yield b
        b.stop()

    fixture.__doc__ = doc
    return fixture


shared_broker = module_broker("shared", doc="One broker for a whole test module (tests use their own topic names).")
