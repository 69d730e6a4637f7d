"""KBrokerContainer (testcontainers): the start script it writes is a valid `kbroker serve` command line; the
container itself runs only where a Docker engine is (it skips here otherwise)."""
from __future__ import annotations

import shlex
import time

import pytest

from kbroker.cli import parser
from tests.helpers import docker_engine

container_module = pytest.importorskip("kbroker.testing.container", reason="testcontainers is not installed",
                                       exc_type=ImportError)
KBrokerContainer = container_module.KBrokerContainer


def test_start_script_is_a_valid_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    c = KBrokerContainer.__new__(KBrokerContainer)  # no engine needed to check what it would run
    c.config, c.metrics, c.control, c.in_memory = {"num.partitions": "3"}, True, True, True
    monkeypatch.setattr(c, "get_bootstrap_server", lambda: "localhost:32768", raising=False)
    argv = c.command_line()
    assert argv[0] == "kbroker"
    args = parser().parse_args(shlex.split(" ".join(shlex.quote(a) for a in argv[1:])))
    assert args.advertised_listener == ("localhost", 32768)
    assert args.in_memory and args.metrics_listen == ("0.0.0.0", 9404) and args.control_listen == ("0.0.0.0", 9405)
    assert ("num.partitions", "3") in args.set


@pytest.mark.skipif(not docker_engine(), reason="no Docker engine on this machine")
def test_container_round_trip() -> None:
    confluent_kafka = pytest.importorskip("confluent_kafka")
    KBrokerContainer.build_image(tag="kbroker:test")
    with KBrokerContainer("kbroker:test", control=True, metrics=True) as kafka:
        producer = confluent_kafka.Producer({"bootstrap.servers": kafka.get_bootstrap_server()})
        kafka.faults.inject_error("Produce", "NOT_LEADER_OR_FOLLOWER", count=1)
        producer.produce("t", b"through docker")
        assert producer.flush(30) == 0
        consumer = confluent_kafka.Consumer({"bootstrap.servers": kafka.get_bootstrap_server(), "group.id": "g",
                                             "auto.offset.reset": "earliest"})
        consumer.subscribe(["t"])
        deadline = time.monotonic() + 30
        msg = None
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                break
        consumer.close()
        assert msg is not None and msg.value() == b"through docker"
