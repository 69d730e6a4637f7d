"""Client telemetry (KIP-714): client-metrics subscriptions set through kafka-python's admin client, a
confluent-kafka producer pushing its metrics, and those metrics on kbroker's Prometheus endpoint."""
from __future__ import annotations

import urllib.request
import uuid

import pytest

from tests.conftest import BrokerProcess
from tests.helpers import unique, wait_until
from tests.rawclient import RawClient

confluent_kafka = pytest.importorskip("confluent_kafka")
kafka_admin = pytest.importorskip("kafka.admin")


@pytest.fixture(scope="module")
def metrics_broker(tmp_path_factory):  # type: ignore[no-untyped-def]
    b = BrokerProcess(tmp_path_factory.mktemp("telemetry") / "data", metrics=True).start()
    yield b
    b.stop()


def _subscribe(bootstrap: str, name: str, **configs: str) -> None:
    admin = kafka_admin.KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        result = admin.alter_configs([kafka_admin.ConfigResource(kafka_admin.ConfigResourceType.CLIENT_METRICS, name,
                                                                 configs={k.replace("_", "."): v
                                                                          for k, v in configs.items()})])
    finally:
        admin.close()
    assert result == {"client_metrics": {name: "OK"}}, result


def _get(c: RawClient, instance: bytes = bytes(16)) -> dict:
    return c.request(71, 0, {"client_instance_id": instance})


def test_producer_metrics_reach_prometheus(metrics_broker) -> None:
    client_id = unique("telemetry-producer")
    _subscribe(metrics_broker.bootstrap, unique("sub"), metrics="org.apache.kafka.producer.", interval_ms="500",
               match=f"client_id={client_id}")
    p = confluent_kafka.Producer({"bootstrap.servers": metrics_broker.bootstrap, "client.id": client_id})
    topic = unique("tele")

    def pushed() -> list[str]:
        p.produce(topic, b"x")
        p.poll(0.1)
        text = urllib.request.urlopen(metrics_broker.metrics_url, timeout=10).read().decode()
        return [line for line in text.splitlines()
                if line.startswith("kbroker_client_metric{") and f'client_id="{client_id}"' in line]

    try:
        lines = wait_until(pushed, 30, step=0.3, what="the producer's pushed metrics")
    finally:
        p.flush(10)
    assert any('metric="org.apache.kafka.producer.node.request.latency.avg"' in line for line in lines), lines


def test_subscriptions_and_push_errors(metrics_broker) -> None:
    name, client_id = unique("sub"), unique("raw-client")
    with RawClient(metrics_broker.bootstrap) as c:
        unmatched = _get(c)
        assert unmatched["error_code"] == 0 and unmatched["client_instance_id"] != bytes(16)
        assert unmatched["push_interval_ms"] == 300000
        assert unmatched["accepted_compression_types"] == [4, 3, 1, 2]
    _subscribe(metrics_broker.bootstrap, name, metrics="org.apache.kafka.consumer.,org.apache.kafka.producer.",
               interval_ms="60000", match="client_id=raw-client-.*")
    with RawClient(metrics_broker.bootstrap) as c:
        c.client_id = client_id
        sub = _get(c, uuid.uuid4().bytes)
        assert sub["requested_metrics"] == ["org.apache.kafka.consumer.", "org.apache.kafka.producer."]
        assert sub["push_interval_ms"] == 60000
        push = {"client_instance_id": sub["client_instance_id"], "subscription_id": sub["subscription_id"],
                "terminating": False, "compression_type": 0, "metrics": b""}
        assert c.request(72, 0, {**push, "subscription_id": sub["subscription_id"] + 1})["error_code"] == 117
        assert c.request(72, 0, push)["error_code"] == 0
        assert c.request(72, 0, push)["error_code"] == 89  # THROTTLING_QUOTA_EXCEEDED: far too early
        assert c.request(72, 0, {**push, "terminating": True, "metrics": b"\xff\xff"})["error_code"] == 87
        with RawClient(metrics_broker.bootstrap) as listing:
            listed = listing.request(74, 1, {"resource_types": [16]})
        assert name in [r["resource_name"] for r in listed["config_resources"]]


def test_telemetry_is_not_advertised_without_a_metrics_endpoint(tmp_path) -> None:
    b = BrokerProcess(tmp_path / "data").start()
    try:
        with RawClient(b.bootstrap) as c:
            keys = {k["api_key"] for k in c.request(18, 3, {"client_software_name": "t",
                                                            "client_software_version": "1"})["api_keys"]}
            assert not keys & {71, 72}
            assert _get(c)["error_code"] == 35
        # librdkafka asks only when advertised: a producer works as before
        p = confluent_kafka.Producer({"bootstrap.servers": b.bootstrap})
        p.produce(unique("t"), b"x")
        assert p.flush(15) == 0
    finally:
        b.stop()

