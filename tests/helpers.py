"""Small helpers the broker-level tests share: unique names, bounded polling, topic creation over raw frames."""
from __future__ import annotations

import functools
import shutil
import subprocess
import time
import uuid
from typing import Any, Callable

from tests.rawclient import RawClient


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_until(predicate: Callable[[], Any], timeout: float, step: float = 0.05, what: str = "condition") -> Any:
    """Poll until predicate() is truthy (and return it); AssertionError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


def create_topics(bootstrap: str, *topics: tuple[str, int], configs: dict[str, str] | None = None,
                  exist_ok: bool = True) -> None:
    """Create (name, partitions) topics with CreateTopics v5; each must be created (or exist, if exist_ok)."""
    entries = [{"name": name, "num_partitions": n, "replication_factor": 1, "assignments": [],
                "configs": [{"name": k, "value": v} for k, v in (configs or {}).items()]} for name, n in topics]
    with RawClient(bootstrap) as c:
        resp = c.request(19, 5, {"topics": entries, "timeout_ms": 5000, "validate_only": False})
    allowed = (0, 36) if exist_ok else (0,)  # 36: TOPIC_ALREADY_EXISTS
    errors = [(t["name"], t["error_code"], t["error_message"]) for t in resp["topics"] if t["error_code"] not in allowed]
    assert not errors, errors


@functools.cache
def docker_engine() -> bool:
    """Whether a Docker engine answers here (the client alone is not enough); asked once per test run."""
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def produce_blocking(producer: Any, topic: str, *, deadline: float, **kwargs: Any) -> None:
    """confluent-kafka's produce(), waiting out a full local queue (BufferError) until time.monotonic() > deadline."""
    while True:
        try:
            producer.produce(topic, **kwargs)
            return
        except BufferError:
            if time.monotonic() > deadline:
                raise AssertionError("the producer's queue stayed full until the deadline") from None
            producer.poll(0.05)
