"""Kafka's listener keys parsed and checked."""
from __future__ import annotations

import pytest

from kbroker.security.listeners import Listener, ListenerConfigError, listener_setup


def test_issue_example():
    s = listener_setup({
        "listeners": "PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://127.0.0.1:9093,SSL://127.0.0.1:9094",
        "advertised.listeners": "PLAINTEXT://localhost:9092,SASL_PLAINTEXT://localhost:9093,SSL://localhost:9094",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL"})
    assert s.listeners == [Listener("PLAINTEXT", "127.0.0.1", 9092, "PLAINTEXT"),
                           Listener("SASL_PLAINTEXT", "127.0.0.1", 9093, "SASL_PLAINTEXT"),
                           Listener("SSL", "127.0.0.1", 9094, "SSL")]
    assert s.advertised_for("SSL") == Listener("SSL", "localhost", 9094, "SSL")
    assert s.inter_broker == "PLAINTEXT"


def test_custom_names_and_inter_broker():
    s = listener_setup({"listeners": "internal://:0,EXTERNAL://[::1]:0",
                        "listener.security.protocol.map": "INTERNAL:SASL_SSL,EXTERNAL:SSL",
                        "inter.broker.listener.name": "internal"})
    assert [(l.name, l.host, l.protocol) for l in s.listeners] == [("INTERNAL", "", "SASL_SSL"),
                                                                   ("EXTERNAL", "::1", "SSL")]
    assert s.listeners[0].sasl and s.listeners[0].tls and s.listeners[1].url() == "EXTERNAL://[::1]:0"
    assert s.inter_broker == "INTERNAL"
    assert s.advertised == s.listeners


@pytest.mark.parametrize("settings", [
    {"listeners": "FOO://:9092"},
    {"listeners": "PLAINTEXT://:9092,PLAINTEXT://:9093"},
    {"listeners": "PLAINTEXT://:9092,SSL://:9092"},
    {"listeners": "PLAINTEXT:9092"},
    {"listeners": "PLAINTEXT://:9092", "advertised.listeners": "SSL://h:1"},
    {"listeners": "PLAINTEXT://:9092", "inter.broker.listener.name": "X"},
    {"listeners": "SSL://:9092", "security.inter.broker.protocol": "PLAINTEXT"},
    {"listeners": "PLAINTEXT://:1", "inter.broker.listener.name": "PLAINTEXT",
     "security.inter.broker.protocol": "PLAINTEXT"},
    {"listeners": "A://:1", "listener.security.protocol.map": "A:TLS"},
])
def test_invalid(settings):
    with pytest.raises(ListenerConfigError):
        listener_setup(settings)


def test_only_ssl_listener_is_its_own_inter_broker_listener():
    assert listener_setup({"listeners": "SSL://:0"}).inter_broker == "SSL"
