"""Where the captured client frames (shared/vectors/requests.jsonl) are, for the tests that replay them.

They live beside the checkout (../shared/vectors), or wherever KBROKER_VECTORS points (a git worktree elsewhere
has no ../shared). Without them those tests are still collected and each shows as skipped with REASON, so a
run without the vectors says what it did not check.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

ENV = "KBROKER_VECTORS"
_BESIDE = Path(__file__).resolve().parents[2] / "shared" / "vectors" / "requests.jsonl"
VECTORS = Path(os.environ[ENV]) if os.environ.get(ENV) else _BESIDE
REASON = f"no captured client frames at {VECTORS} (shared/vectors beside the checkout, or set {ENV})"
needs_vectors = pytest.mark.skipif(not VECTORS.is_file(), reason=REASON)


def samples() -> list[dict[str, Any]]:
    """Every captured request (one JSON object a line), or [] without the vectors."""
    if not VECTORS.is_file():
        return []
    return [json.loads(line) for line in VECTORS.read_text().splitlines() if line.strip()]
