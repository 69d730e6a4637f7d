"""Fixtures for the group coordinator tests: a broker with short group timeouts, and raw-protocol helpers."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any, Callable, Iterator

import pytest

from tests.conftest import BrokerProcess, module_broker
from tests.helpers import unique, wait_until  # noqa: F401 (re-exported to the tests)
from tests.rawclient import RawClient
from wire.codec import decode_response

FAST_GROUPS = ("--set", "group.min.session.timeout.ms=500",
               "--set", "offsets.retention.check.interval.ms=200")


fast_broker = module_broker("groups", *FAST_GROUPS, doc="Accepts short session timeouts (expiry tests take a second, not six).")


class Raw(RawClient):
    """RawClient that can leave a request parked (JoinGroup, SyncGroup) and collect its answer later."""

    def start(self, api_key: int, version: int, body: dict) -> tuple[int, int, int]:
        return api_key, version, self.send(api_key, version, body)

    def finish(self, pending: tuple[int, int, int], timeout: float = 20.0) -> Any:
        api_key, version, corr = pending
        self.sock.settimeout(timeout)
        got, response = decode_response(api_key, version, self.recv_frame())
        assert got == corr
        return response


@pytest.fixture
def raw_factory(fast_broker: BrokerProcess) -> Iterator[Callable[[], Raw]]:
    clients: list[Raw] = []

    def make() -> Raw:
        c = Raw(fast_broker.bootstrap, timeout=30)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    with RawClient(bootstrap) as c:
        resp = c.request(19, 5, {"topics": [{"name": name, "num_partitions": partitions, "replication_factor": 1,
                                             "assignments": [], "configs": []}],
                                 "timeout_ms": 5000, "validate_only": False})
        assert resp["topics"][0]["error_code"] in (0, 36), resp


def owned(consumer: Any) -> list[int]:
    """The partitions a confluent-kafka consumer is assigned now."""
    return sorted(tp.partition for tp in consumer.assignment())


_CHILD = """
import json, sys
from confluent_kafka import Consumer
c = Consumer(json.loads(sys.argv[1]))
c.subscribe([sys.argv[2]])
while True:
    c.poll(0.2)
"""


def child_consumer(bootstrap: str, group: str, topic: str, **conf: Any) -> subprocess.Popen:
    """A confluent-kafka consumer of `topic` in its own process, so that a test can kill -9 it."""
    config = {"bootstrap.servers": bootstrap, "group.id": group, **conf}
    return subprocess.Popen([sys.executable, "-c", _CHILD, json.dumps(config), topic])


def takeover_after_kill(child: Any, survivors: list, partitions: int, session_s: float = 6.0) -> float:
    """With `child` (a consumer process) and the survivors splitting the partitions, kill -9 the child: only its
    session timeout tells the coordinator. Returns how long until the survivors own every partition."""

    def polled_assignment() -> list[int]:
        for c in survivors:
            c.poll(0.05)
        return [len(c.assignment()) for c in survivors]

    share = partitions // (len(survivors) + 1)
    wait_until(lambda: polled_assignment() == [share] * len(survivors), 40, what="an even split with the child")
    child.kill()  # no LeaveGroup
    child.wait(10)
    killed = time.monotonic()
    wait_until(lambda: (polled_assignment(), sorted(p for c in survivors for p in owned(c)))[1]
               == list(range(partitions)), session_s + 60, what="the survivors owning every partition")
    took = time.monotonic() - killed
    # not before the session timeout: nothing else told the coordinator (no upper bound: load only slows it)
    assert took > session_s - 2, f"partitions moved after {took:.1f}s (session timeout {session_s}s)"
    return took
