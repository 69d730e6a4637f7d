"""KIP-368 re-authentication (connections.max.reauth.ms), the SASL gate and the legacy flow, with real clients and
raw frames."""
from __future__ import annotations

import socket
import struct
import threading
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer

from kbroker.testing import KafkaBroker
from kbroker.testing.client import WireClient
from kbroker.testing.security import SecureSetup, bootstrap

SASL_HANDSHAKE, SASL_AUTHENTICATE, METADATA = 17, 36, 3


@pytest.fixture(scope="module")
def sec(tmp_path_factory):
    return SecureSetup(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def kafka(sec):
    with KafkaBroker.start(config=sec.broker_config(**{"connections.max.reauth.ms": "2000"})) as k:
        sec.create_scram_users(k)
        yield k


def _closed(wire: WireClient) -> bool:
    try:
        wire.request(METADATA, 9, {"topics": [], "allow_auto_topic_creation": False,
                                   "include_topic_authorized_operations": False})
    except (ConnectionError, OSError, EOFError, struct.error, RuntimeError):
        return True
    return False


def test_raw_connection_without_reauthentication_is_closed(kafka):
    wire = WireClient(bootstrap(kafka, "SASL_PLAINTEXT"), timeout=10)
    assert wire.request(SASL_HANDSHAKE, 1, {"mechanism": "PLAIN"})["error_code"] == 0
    answer = wire.request(SASL_AUTHENTICATE, 2, {"auth_bytes": b"\0alice\0alice-secret"})
    assert answer["error_code"] == 0 and answer["session_lifetime_ms"] == 2000
    assert not _closed(wire)
    time.sleep(2.3)
    assert _closed(wire)


def test_raw_reauthentication_keeps_the_connection(kafka):
    wire = WireClient(bootstrap(kafka, "SASL_PLAINTEXT"), timeout=10)
    for _ in range(3):
        assert wire.request(SASL_HANDSHAKE, 1, {"mechanism": "PLAIN"})["error_code"] == 0
        assert wire.request(SASL_AUTHENTICATE, 2, {"auth_bytes": b"\0alice\0alice-secret"})["error_code"] == 0
        time.sleep(1.2)
        assert not _closed(wire)


def test_requests_before_authentication_disconnect(kafka):
    wire = WireClient(bootstrap(kafka, "SASL_PLAINTEXT"), timeout=10)
    assert _closed(wire)
    wire = WireClient(bootstrap(kafka, "SASL_PLAINTEXT"), timeout=10)
    assert wire.request(18, 3, {"client_software_name": "t", "client_software_version": "1"})["error_code"] == 0
    assert wire.request(SASL_HANDSHAKE, 1, {"mechanism": "GSSAPI"})["error_code"] == 33  # UNSUPPORTED_SASL_MECHANISM
    assert _closed(wire)


def test_wrong_password_answer_then_close(kafka):
    wire = WireClient(bootstrap(kafka, "SASL_PLAINTEXT"), timeout=10)
    wire.request(SASL_HANDSHAKE, 1, {"mechanism": "PLAIN"})
    began = time.monotonic()
    answer = wire.request(SASL_AUTHENTICATE, 2, {"auth_bytes": b"\0alice\0nope"})
    assert answer["error_code"] == 58
    assert answer["error_message"] == "Authentication failed: Invalid username or password"
    assert time.monotonic() - began >= 0.09  # connection.failed.authentication.delay.ms (100) before the answer
    assert _closed(wire)


def test_legacy_unframed_flow(kafka):
    host, port = bootstrap(kafka, "SASL_PLAINTEXT").rsplit(":", 1)
    wire = WireClient(f"{host}:{port}", timeout=10)
    assert wire.request(SASL_HANDSHAKE, 0, {"mechanism": "PLAIN"})["error_code"] == 0
    token = b"\0alice\0alice-secret"
    wire.sock.sendall(struct.pack(">i", len(token)) + token)
    size = struct.unpack(">i", wire._recv(4))[0]
    assert size == 0  # PLAIN's empty final challenge
    assert not _closed(wire)


def test_consumer_reauthenticates_and_stays_connected(kafka, sec):
    settings = sec.confluent(kafka, "SASL_SSL", "SCRAM-SHA-512")
    topic = f"reauth-{uuid.uuid4().hex[:8]}"
    server = kafka.runner.running.servers["SASL_SSL"]
    stop = threading.Event()

    def produce():
        p = Producer(settings)
        i = 0
        while not stop.is_set():
            p.produce(topic, str(i).encode())
            p.poll(0.2)
            i += 1
        p.flush(10)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    c = Consumer({**settings, "group.id": f"g-{topic}", "auto.offset.reset": "earliest"})
    errors = []
    try:
        c.subscribe([topic])
        received, began, accepted_at_start = 0, time.monotonic(), None
        while time.monotonic() - began < 10:
            msg = c.poll(0.5)
            if msg is not None and msg.error():
                errors.append(msg.error())
            elif msg is not None:
                received += 1
            if accepted_at_start is None and time.monotonic() - began > 1.5:
                accepted_at_start = server.accepted
        assert received > 10 and not errors, errors
        assert server.accepted == accepted_at_start  # no reconnection: the clients re-authenticated
    finally:
        stop.set()
        producer.join(15)
        c.close()
