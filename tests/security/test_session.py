"""A connection's SASL state machine: the request gate, handshake, authenticate rounds with real mechanism
exchanges, failures and KIP-368 re-authentication."""
from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from kbroker.security.listeners import Listener
from kbroker.security.oauthbearer import unsecured_token
from kbroker.security.sasl_config import SaslConfigError, listener_sasl, scram_lookup
from kbroker.security.session import ConnectionAuth, Disconnect
from wire.errors import ErrorCode

SASL = Listener("SASL_SSL", "", 0, "SASL_SSL")
SETTINGS = {
    "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER",
    "listener.name.sasl_ssl.plain.sasl.jaas.config":
        'org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-pw";',
    "connections.max.reauth.ms": "2000",
}
SALT = b"saltsaltsalt"
STORED = {"bob": {1: {"iterations": 4096, "salt": SALT.hex(),
                      "salted_password": hashlib.pbkdf2_hmac("sha256", b"bob-pw", SALT, 4096).hex()}}}


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def conn(clock=None, settings=SETTINGS) -> ConnectionAuth:
    return ConnectionAuth(SASL, listener_sasl(settings, "SASL_SSL"), scram_lookup(lambda: STORED),
                          clock=clock or Clock())


def plain_login(c: ConnectionAuth, password="alice-pw", version=2):
    c.before_request(18)
    c.before_request(17)
    assert c.handshake(1, "PLAIN").body["error_code"] == 0
    c.before_request(36)
    return c.authenticate(version, f"\0alice\0{password}".encode())


def test_plain_success_sets_principal_and_lifetime():
    c = conn()
    ans = plain_login(c)
    assert ans.body["error_code"] == 0 and ans.body["session_lifetime_ms"] == 2000
    assert c.authenticated and c.principal == "User:alice"
    c.before_request(3)  # Metadata is now served


def test_requests_before_authentication_disconnect():
    c = conn()
    with pytest.raises(Disconnect):
        c.before_request(3)
    c = conn()
    c.before_request(18)
    with pytest.raises(Disconnect):  # ApiVersions only once, as Kafka
        c.before_request(18)
    c = conn()
    c.before_request(17)
    c.handshake(1, "PLAIN")
    with pytest.raises(Disconnect):
        c.before_request(0)


def test_unsupported_version_of_api_versions_may_be_retried():
    c = conn()
    c.before_request(18, api_version_supported=False)
    c.before_request(18)


def test_wrong_password_fails_with_kafka_message_delay_and_close():
    c = conn()
    ans = plain_login(c, "nope")
    assert ans.body["error_code"] == ErrorCode.SASL_AUTHENTICATION_FAILED
    assert ans.body["error_message"] == "Authentication failed: Invalid username or password"
    assert ans.close_after and ans.delay_s == pytest.approx(0.1)
    assert not c.authenticated


def test_unknown_mechanism():
    c = conn()
    ans = c.handshake(1, "GSSAPI")
    assert ans.body == {"error_code": ErrorCode.UNSUPPORTED_SASL_MECHANISM,
                        "mechanisms": ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]}
    assert ans.close_after


def _scram_client(c: ConnectionAuth, password: bytes, version=1):
    c.handshake(1, "SCRAM-SHA-256")
    first_bare = "n=bob,r=fyko+d2lbbFgONRv9qkxdawL"
    ans = c.authenticate(version, f"n,,{first_bare}".encode())
    server_first = ans.body["auth_bytes"].decode()
    nonce = server_first.split(",")[0][2:]
    without = f"c=biws,r={nonce}"
    auth = f"{first_bare},{server_first},{without}".encode()
    salted = hashlib.pbkdf2_hmac("sha256", password, SALT, 4096)
    ck = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    sig = hmac.new(hashlib.sha256(ck).digest(), auth, hashlib.sha256).digest()
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(ck, sig))).decode()
    return c.authenticate(version, f"{without},p={proof}".encode())


def test_scram_from_stored_credentials():
    c = conn()
    ans = _scram_client(c, b"bob-pw")
    assert ans.body["error_code"] == 0 and ans.body["auth_bytes"].startswith(b"v=")
    assert c.principal == "User:bob"
    c = conn()
    ans = _scram_client(c, b"wrong")
    assert ans.body["error_message"] == ("Authentication failed during authentication due to invalid credentials "
                                         "with SASL mechanism SCRAM-SHA-256")


def test_reauthentication_and_expiry():
    clock = Clock()
    c = conn(clock)
    plain_login(c)
    clock.t += 1.5
    c.before_request(1)
    c.before_request(17)  # re-authentication starts with SaslHandshake
    assert c.handshake(1, "PLAIN").body["error_code"] == 0
    ans = c.authenticate(2, b"\0alice\0alice-pw")
    assert ans.body["error_code"] == 0 and ans.body["session_lifetime_ms"] == 2000
    clock.t += 1.9
    c.before_request(1)
    clock.t += 0.2
    with pytest.raises(Disconnect, match="expired"):
        c.before_request(1)


def test_reauthentication_cannot_change_principal_or_mechanism():
    c = conn(settings={**SETTINGS, "listener.name.sasl_ssl.plain.sasl.jaas.config":
                       'X required user_alice="alice-pw" user_eve="eve-pw";'})
    plain_login(c)
    assert c.handshake(1, "SCRAM-SHA-256").body["error_code"] == ErrorCode.ILLEGAL_SASL_STATE
    c.handshake(1, "PLAIN")
    ans = c.authenticate(2, b"\0eve\0eve-pw")
    assert ans.body["error_code"] == ErrorCode.SASL_AUTHENTICATION_FAILED and ans.close_after
    assert "Cannot change principals" in ans.body["error_message"]


def test_oauthbearer_lifetime_bounded_by_token():

    c = conn()
    c.handshake(1, "OAUTHBEARER")
    tok = unsecured_token("carol", lifetime_s=1.0)
    ans = c.authenticate(2, f"n,,\x01auth=Bearer {tok}\x01\x01".encode())
    assert ans.body["error_code"] == 0 and c.principal == "User:carol"
    assert 0 < ans.body["session_lifetime_ms"] <= 1000


def test_legacy_flow():
    c = conn()
    c.before_request(17)
    c.handshake(0, "PLAIN")
    assert c.legacy
    assert c.legacy_token(b"\0alice\0alice-pw") == b""
    assert c.authenticated and not c.legacy
    c = conn()
    c.handshake(0, "PLAIN")
    with pytest.raises(Disconnect):
        c.legacy_token(b"\0alice\0bad")


def test_plaintext_listener_is_anonymous_and_answers_illegal_state():
    c = ConnectionAuth(Listener("PLAINTEXT", "", 0, "PLAINTEXT"))
    c.before_request(0)
    assert c.principal == "User:ANONYMOUS"
    assert c.handshake(1, "PLAIN").body["error_code"] == ErrorCode.ILLEGAL_SASL_STATE


def test_config_errors():
    with pytest.raises(SaslConfigError):
        listener_sasl({"sasl.enabled.mechanisms": "GSSAPI"}, "SASL_SSL")
    with pytest.raises(SaslConfigError):
        listener_sasl({"sasl.enabled.mechanisms": "PLAIN"}, "SASL_SSL")
    s = listener_sasl({"sasl.enabled.mechanisms": "SCRAM-SHA-512",
                       "listener.name.internal.sasl.enabled.mechanisms": "SCRAM-SHA-256",
                       "listener.name.internal.scram-sha-256.connections.max.reauth.ms": "5000"}, "INTERNAL")
    assert s.mechanisms == ["SCRAM-SHA-256"] and s.reauth_ms == {"SCRAM-SHA-256": 5000}
