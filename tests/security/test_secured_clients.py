"""Real clients over SSL, SASL_PLAINTEXT and SASL_SSL with PLAIN, SCRAM-SHA-256/512 (and, for confluent-kafka and
kcat, mTLS and OAUTHBEARER unsecured), on one broker with a listener per protocol; failures are clean and leave the
broker serving everyone else."""
from __future__ import annotations

import asyncio
import time
import shutil
import subprocess
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient

from kbroker.testing import KafkaBroker
from kbroker.testing.security import SecureSetup


@pytest.fixture(scope="module")
def sec(tmp_path_factory):
    return SecureSetup(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def kafka(sec):
    with KafkaBroker.start(config=sec.broker_config()) as k:
        sec.create_scram_users(k)
        yield k


def roundtrip_confluent(settings: dict) -> bytes:
    topic = f"t-{uuid.uuid4().hex[:8]}"
    errors = []
    p = Producer({**settings, "message.timeout.ms": 10000})
    p.produce(topic, b"hello", on_delivery=lambda err, msg: errors.append(err))
    assert p.flush(15) == 0 and errors == [None], errors
    c = Consumer({**settings, "group.id": f"g-{topic}", "auto.offset.reset": "earliest"})
    try:
        c.subscribe([topic])
        for _ in range(30):
            msg = c.poll(1)
            if msg is not None and not msg.error():
                return msg.value()
    finally:
        c.close()
    raise AssertionError("nothing consumed")


CASES = [("SSL", None), ("SASL_PLAINTEXT", "PLAIN"), ("SASL_PLAINTEXT", "SCRAM-SHA-256"),
         ("SASL_PLAINTEXT", "SCRAM-SHA-512"), ("SASL_SSL", "PLAIN"), ("SASL_SSL", "SCRAM-SHA-256"),
         ("SASL_SSL", "SCRAM-SHA-512")]


@pytest.mark.parametrize("listener,mechanism", CASES)
def test_confluent(kafka, sec, listener, mechanism):
    assert roundtrip_confluent(sec.confluent(kafka, listener, mechanism)) == b"hello"


def test_confluent_mtls_and_oauthbearer(kafka, sec):
    assert roundtrip_confluent(sec.mtls(kafka)) == b"hello"
    assert roundtrip_confluent(sec.confluent(kafka, "SASL_SSL", "OAUTHBEARER", "carol")) == b"hello"


@pytest.mark.parametrize("listener,mechanism", CASES)
def test_kafka_python(kafka, sec, listener, mechanism):
    from kafka import KafkaConsumer, KafkaProducer
    settings = sec.kafka_python(kafka, listener, mechanism)
    topic = f"kp-{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(**settings)
    producer.send(topic, b"kp").get(timeout=20)
    producer.close()
    consumer = KafkaConsumer(topic, **settings, auto_offset_reset="earliest", consumer_timeout_ms=15000)
    try:
        assert next(iter(consumer)).value == b"kp"
    finally:
        consumer.close()


@pytest.mark.parametrize("listener,mechanism", CASES)
def test_aiokafka(kafka, sec, listener, mechanism):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    async def run() -> bytes:
        settings = sec.aiokafka(kafka, listener, mechanism)
        topic = f"aio-{uuid.uuid4().hex[:8]}"
        producer = AIOKafkaProducer(**settings)
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"aio")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(topic, **settings, auto_offset_reset="earliest")
        await consumer.start()
        try:
            return (await asyncio.wait_for(consumer.getone(), 20)).value
        finally:
            await consumer.stop()

    assert asyncio.run(asyncio.wait_for(run(), 60)) == b"aio"


KCAT = [("SSL", None, False), ("SSL", None, True), ("SASL_SSL", "PLAIN", False), ("SASL_SSL", "SCRAM-SHA-256", False),
        ("SASL_PLAINTEXT", "SCRAM-SHA-512", False), ("SASL_SSL", "OAUTHBEARER", False)]


@pytest.mark.kcat
@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat not installed")
@pytest.mark.parametrize("listener,mechanism,mtls", KCAT)
def test_kcat(kafka, sec, listener, mechanism, mtls):
    args = sec.kcat_args(kafka, listener, mechanism, mtls=mtls)
    topic = f"kc-{uuid.uuid4().hex[:8]}"
    subprocess.run(["kcat", *args, "-P", "-t", topic], input=b"from-kcat\n", check=True, timeout=30)
    out = subprocess.run(["kcat", *args, "-C", "-t", topic, "-o", "beginning", "-c", "1", "-e"],
                         capture_output=True, check=True, timeout=30)
    assert out.stdout.strip() == b"from-kcat"


def _expect_auth_failure(settings: dict, timeout: float = 15) -> list[KafkaError]:
    """The errors a client reports while it fails to connect (it must report some within the timeout)."""
    errors: list[KafkaError] = []
    p = Producer({**settings, "error_cb": errors.append})
    deadline = time.monotonic() + timeout
    while not errors and time.monotonic() < deadline:
        p.poll(0.2)
    assert errors, "the client reported no error"
    return errors


def test_wrong_password_unknown_user_and_plaintext_on_tls_fail_cleanly(kafka, sec):
    errs = _expect_auth_failure(sec.confluent(kafka, "SASL_SSL", "SCRAM-SHA-256", "alice", "wrong"))
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errs), errs
    assert any("Authentication failed during authentication due to invalid credentials with SASL mechanism "
               "SCRAM-SHA-256" in e.str() for e in errs), errs
    errs = _expect_auth_failure(sec.confluent(kafka, "SASL_PLAINTEXT", "PLAIN", "nobody", "x"))
    assert any("Invalid username or password" in e.str() for e in errs), errs
    # a plain-text client on the TLS port
    _expect_auth_failure({"bootstrap.servers": sec.confluent(kafka, "SSL")["bootstrap.servers"]})
    # a SASL client on the PLAINTEXT port
    _expect_auth_failure({**sec.confluent(kafka, "SASL_PLAINTEXT"),
                          "bootstrap.servers": sec.confluent(kafka, "PLAINTEXT")["bootstrap.servers"]})
    # an expired client certificate on the SSL listener
    expired = sec.ca.issue("expired-client", {"CN": "old"}, expired=True)
    _expect_auth_failure(sec.confluent(kafka, "SSL", **{"ssl.certificate.location": str(expired.cert_path),
                                                       "ssl.key.location": str(expired.key_path)}))
    # everyone else is still served
    assert roundtrip_confluent(sec.confluent(kafka, "SASL_SSL", "SCRAM-SHA-512")) == b"hello"


def test_metadata_answers_with_the_listener_endpoints(kafka, sec):
    for listener in ("PLAINTEXT", "SSL", "SASL_SSL"):
        settings = sec.confluent(kafka, listener)
        md = AdminClient(settings).list_topics(timeout=10)
        (broker,) = md.brokers.values()
        assert f"{broker.host}:{broker.port}" == settings["bootstrap.servers"]
