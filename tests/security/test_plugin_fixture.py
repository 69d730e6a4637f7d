"""The pytest plugin's kafka_secure_broker fixture: a secured broker and the client settings to reach it."""
from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, Producer


def _roundtrip(settings: dict) -> bytes | None:
    topic = f"fx-{uuid.uuid4().hex[:8]}"
    p = Producer(settings)
    p.produce(topic, b"secured")
    assert p.flush(15) == 0
    c = Consumer({**settings, "group.id": topic, "auto.offset.reset": "earliest"})
    try:
        c.subscribe([topic])
        for _ in range(30):
            msg = c.poll(1)
            if msg is not None and not msg.error():
                return msg.value()
    finally:
        c.close()
    return None


def test_default_fixture_scram_over_tls(kafka_secure_broker):
    assert _roundtrip(kafka_secure_broker.confluent("SASL_SSL", "SCRAM-SHA-256", "alice")) == b"secured"
    assert _roundtrip(kafka_secure_broker.mtls()) == b"secured"


@pytest.mark.kafka_secure_broker(users={"carol": "c-pw"}, config={
    "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer", "super.users": "User:carol;User:ANONYMOUS"})  # ANONYMOUS (PLAINTEXT) creates the users
def test_marker_users_and_config(kafka_secure_broker):
    assert _roundtrip(kafka_secure_broker.confluent("SASL_PLAINTEXT", "SCRAM-SHA-512", "carol")) == b"secured"
    errors = []
    p = Producer({**kafka_secure_broker.confluent("SASL_PLAINTEXT", "PLAIN", "carol", "wrong"),
                  "error_cb": errors.append, "message.timeout.ms": 3000})
    p.produce("x", b"y")
    p.flush(10)
    assert any("Invalid username or password" in e.str() for e in errors), errors
