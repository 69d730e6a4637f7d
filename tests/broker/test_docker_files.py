"""The docker image's health check speaks ApiVersions to a real broker; building the image needs a Docker engine."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import docker_engine

ROOT = Path(__file__).resolve().parents[2]


def test_healthcheck_against_a_broker(shared_broker) -> None:
    script = ROOT / "docker" / "healthcheck.py"
    ok = subprocess.run([sys.executable, str(script), shared_broker.bootstrap], timeout=30)
    assert ok.returncode == 0
    closed = subprocess.run([sys.executable, str(script), "127.0.0.1:1"], timeout=30)
    assert closed.returncode == 1


@pytest.mark.skipif(not docker_engine(), reason="no Docker engine on this machine")
def test_image_builds() -> None:
    proc = subprocess.run(["docker", "build", "-f", "docker/Dockerfile", "-t", "kbroker:test", "."], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
