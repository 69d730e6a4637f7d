"""Debian's kcat (librdkafka 2.0.2) as a balanced consumer (-G): joins, consumes, commits, resumes."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.helpers import create_topics, unique

KCAT = shutil.which("kcat")
pytestmark = pytest.mark.skipif(KCAT is None, reason="kcat is not installed")


def _kcat(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([KCAT, *args], input=stdin, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def test_balanced_consumer_commits_and_resumes(shared_broker) -> None:
    topic, group = unique("kcat-group"), unique("kcat-g")
    create_topics(shared_broker.bootstrap, (topic, 3))
    b = shared_broker.bootstrap
    _kcat("-b", b, "-P", "-t", topic, "-K", ":", stdin="".join(f"k{i % 7}:first-{i}\n" for i in range(300)))
    consume = ["-b", b, "-G", group, "-X", "auto.offset.reset=earliest", "-e", "-f", "%p %s\\n", topic]
    first = _kcat(*consume)
    assert f"Group {group} rebalanced" in first.stderr
    got = sorted(line.split()[1] for line in first.stdout.splitlines())
    assert got == sorted(f"first-{i}" for i in range(300))

    # offsets were committed: the group resumes after them and sees only what came since
    _kcat("-b", b, "-P", "-t", topic, "-K", ":", stdin="".join(f"k{i % 7}:second-{i}\n" for i in range(30)))
    second = _kcat(*consume)
    assert sorted(line.split()[1] for line in second.stdout.splitlines()) == sorted(f"second-{i}" for i in range(30))
