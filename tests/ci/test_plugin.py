"""The pytest plugin as a user meets it: `kafka_broker`, its scopes and modes, its helpers, and brokers started
and stopped in a row (how fast: bench/start_up.py)."""
from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Callable

import pytest

from kbroker.testing import InProcessBroker, KafkaBroker, SubprocessBroker, WireClient

@pytest.mark.parametrize("n", range(2))
def test_session_broker_is_shared(kafka_broker: KafkaBroker, kafka_broker_session: KafkaBroker, n: int) -> None:
    assert kafka_broker is kafka_broker_session
    assert kafka_broker.mode == "inprocess" and kafka_broker.data_dir is None


@pytest.mark.kafka_broker(scope="function")
def test_function_scope_gets_its_own_broker(kafka_broker: KafkaBroker, kafka_broker_session: KafkaBroker) -> None:
    assert kafka_broker.bootstrap != kafka_broker_session.bootstrap
    assert kafka_broker.topics() == []


@pytest.mark.kafka_broker(config={"num.partitions": 3})
def test_marker_config_reaches_the_broker(kafka_broker: KafkaBroker, kafka_broker_session: KafkaBroker) -> None:
    assert kafka_broker.bootstrap != kafka_broker_session.bootstrap  # other settings, another shared broker
    kafka_broker.produce("auto-created", [b"x"])
    with kafka_broker.wire() as c:
        assert c.partitions("auto-created") == [0, 1, 2]


@pytest.mark.kafka_broker(scope="function", mode="subprocess", storage="disk")
def test_subprocess_on_disk_survives_a_restart(kafka_broker: KafkaBroker) -> None:
    assert kafka_broker.mode == "subprocess"
    assert isinstance(kafka_broker.runner, SubprocessBroker) and kafka_broker.runner.alive()
    assert kafka_broker.data_dir is not None and kafka_broker.data_dir.is_dir()
    topic = kafka_broker.create_topic(partitions=2)
    kafka_broker.produce(topic, [b"kept"], partition=1)
    kafka_broker.restart()
    assert kafka_broker.values(topic) == [b"kept"]
    assert any(p.name.startswith(topic) for p in Path(kafka_broker.data_dir).iterdir())


def test_helpers(kafka_broker: KafkaBroker) -> None:
    topic = kafka_broker.create_topic(partitions=2, config={"retention.ms": 60000})
    assert topic in kafka_broker.topics()
    assert kafka_broker.produce(topic, ["a", "b"], key="k", headers=[("h", "1")]) == [0, 1]
    assert kafka_broker.produce(topic, [(b"k2", b"c")], partition=1) == [0]
    messages = kafka_broker.consume_all(topic)
    assert [(m.partition, m.offset, m.key, m.value) for m in messages] == [
        (0, 0, b"k", b"a"), (0, 1, b"k", b"b"), (1, 0, b"k2", b"c")]
    assert messages[0].headers == [("h", b"1")]
    assert kafka_broker.consume_all(topic, partition=1)[0].value == b"c"
    kafka_broker.delete_topic(topic)
    assert topic not in kafka_broker.topics()


def test_real_clients_from_the_fixture(kafka_broker: KafkaBroker) -> None:
    pytest.importorskip("confluent_kafka")
    from confluent_kafka.admin import NewTopic

    admin = kafka_broker.admin()
    name = kafka_broker.unique_name()
    admin.create_topics([NewTopic(name, 1)])[name].result(timeout=10)
    assert name in admin.list_topics(timeout=10).topics
    producer = kafka_broker.producer()
    producer.produce(name, b"via confluent")
    assert producer.flush(10) == 0
    consumer = kafka_broker.consumer()
    consumer.subscribe([name])
    deadline = time.monotonic() + 20
    msg = None
    while time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is not None and not msg.error():
            break
    assert msg is not None and msg.value() == b"via confluent"


def test_factory_starts_independent_brokers(kafka_broker_factory: Callable[..., KafkaBroker]) -> None:
    a = kafka_broker_factory()
    b = kafka_broker_factory(mode="subprocess", config={"auto.create.topics.enable": "false"})
    assert a.bootstrap != b.bootstrap
    a.create_topic("only-in-a")
    assert "only-in-a" not in b.topics()
    with pytest.raises(Exception, match="UNKNOWN_TOPIC_OR_PARTITION"):
        b.produce("nowhere", [b"x"])


def _serves_then_refuses(runner: InProcessBroker | SubprocessBroker) -> None:
    """The started broker answers a request; once stopped, its port refuses connections."""
    host, port = runner.bootstrap.rsplit(":", 1)
    with WireClient(runner.bootstrap, timeout=20) as c:
        assert c.request(18, 3, {"client_software_name": "t", "client_software_version": "1"})["error_code"] == 0
    assert runner.stop() == 0
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=5).close()


def test_broker_per_test_starts_and_stops_cleanly() -> None:
    """20 in-process brokers in a row, as a broker per test makes them: each serves, and stops cleanly (how long
    they take is bench/start_up.py's business: a timed assertion only flakes on a loaded machine)."""
    for _ in range(20):
        _serves_then_refuses(InProcessBroker().start())


def test_subprocess_start_up() -> None:
    for _ in range(3):
        _serves_then_refuses(SubprocessBroker(control=True).start())


def test_kafka_broker_start_context_manager() -> None:
    with KafkaBroker.start(storage="disk") as kafka:
        data_dir = kafka.data_dir
        assert data_dir is not None and data_dir.is_dir()
        kafka.produce("t", [b"1"])
        assert kafka.values("t") == [b"1"]
    assert not data_dir.exists()  # its own temp dir goes with it
