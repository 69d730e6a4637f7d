from __future__ import annotations

from pathlib import Path

import pytest

from kbroker.log.storage import Directory

from .helpers import new_directory


@pytest.fixture(params=["disk", "memory"])
def engine(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def directory(engine: str, tmp_path: Path) -> Directory:
    """A fresh partition directory on disk or in memory; reopening it simulates a restart."""
    return new_directory(engine, tmp_path)
