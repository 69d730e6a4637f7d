"""SASL/PLAIN with JAAS users and OAUTHBEARER with Kafka's unsecured JWS validator."""
from __future__ import annotations

import base64
import json

import pytest

from kbroker.security.errors import SaslFailure
from kbroker.security.jaas import parse_jaas, plain_users
from kbroker.security.oauthbearer import OAuthBearerServer, UnsecuredJwsValidator, unsecured_token
from kbroker.security.plain import PlainServer, users_check

JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" '
        'password="admin-secret" user_admin="admin-secret" user_alice="al\\"ice;pw";')


def test_jaas_plain_users():
    module, options = parse_jaas(JAAS)
    assert module == "org.apache.kafka.common.security.plain.PlainLoginModule"
    assert options["username"] == "admin"
    assert plain_users(options) == {"admin": "admin-secret", "alice": 'al"ice;pw'}


@pytest.mark.parametrize("text", ["", "PlainLoginModule", "X required a=\"b\"", "X maybe a=b;"])
def test_jaas_invalid(text):
    with pytest.raises(ValueError):
        parse_jaas(text)


def plain() -> PlainServer:
    return PlainServer(users_check(plain_users(parse_jaas(JAAS)[1])))


def test_plain_success_and_authzid():
    s = plain()
    assert s.evaluate(b"\x00admin\x00admin-secret") == b"" and s.complete and s.authorization_id == "admin"
    s = plain()
    s.evaluate(b"admin\x00admin\x00admin-secret")
    assert s.authorization_id == "admin"


@pytest.mark.parametrize("msg,text", [
    (b"\x00admin\x00wrong", "Authentication failed: Invalid username or password"),
    (b"\x00nobody\x00x", "Authentication failed: Invalid username or password"),
    (b"\x00\x00x", "Authentication failed: username not specified"),
    (b"\x00admin\x00", "Authentication failed: password not specified"),
    (b"admin-secret", "Invalid SASL/PLAIN response: expected 3 tokens, got 1"),
    (b"alice\x00admin\x00admin-secret", "Authentication failed: Client requested an authorization id that is "
                                        "different from username"),
])
def test_plain_failures_are_kafkas_messages(msg, text):
    with pytest.raises(SaslFailure) as exc:
        plain().evaluate(msg)
    assert exc.value.public and str(exc.value) == text


def _initial(token: str, authzid: str = "") -> bytes:
    return f"n,{'a=' + authzid if authzid else ''},\x01auth=Bearer {token}\x01\x01".encode()


def test_oauthbearer_valid_token():
    s = OAuthBearerServer(UnsecuredJwsValidator(clock=lambda: 1000.0))
    tok = unsecured_token("alice", lifetime_s=60, now=1000.0)
    assert s.evaluate(_initial(tok)) == b""
    assert s.complete and s.authorization_id == "alice" and s.lifetime_ms == 1_060_000


def test_oauthbearer_expired_token_gets_error_challenge_then_fails():
    s = OAuthBearerServer(UnsecuredJwsValidator(clock=lambda: 5000.0))
    challenge = s.evaluate(_initial(unsecured_token("alice", lifetime_s=60, now=1000.0)))
    assert json.loads(challenge) == {"status": "invalid_token"} and not s.complete
    with pytest.raises(SaslFailure):
        s.evaluate(b"\x01")


def test_oauthbearer_required_scope_and_principal_claim():
    v = UnsecuredJwsValidator({"unsecuredValidatorRequiredScope": "write", "unsecuredValidatorPrincipalClaimName":
                               "user"}, clock=lambda: 1000.0)
    s = OAuthBearerServer(v)
    assert json.loads(s.evaluate(_initial(unsecured_token("x", now=1000.0, user="bob", scope="read"))))["status"] \
        == "insufficient_scope"
    s = OAuthBearerServer(v)
    s.evaluate(_initial(unsecured_token("x", now=1000.0, user="bob", scope="read write")))
    assert s.authorization_id == "bob"


@pytest.mark.parametrize("token", [
    "not-a-token",
    base64.urlsafe_b64encode(b'{"alg":"HS256"}').decode().rstrip("=") + "."
    + base64.urlsafe_b64encode(b'{"sub":"a","exp":99999999999}').decode().rstrip("=") + ".",
    base64.urlsafe_b64encode(b'{"alg":"none"}').decode().rstrip("=") + "."
    + base64.urlsafe_b64encode(b'{"sub":"a"}').decode().rstrip("=") + ".",
])
def test_oauthbearer_rejects_bad_tokens(token):
    s = OAuthBearerServer(UnsecuredJwsValidator())
    assert json.loads(s.evaluate(_initial(token)))["status"] == "invalid_token"


def test_oauthbearer_malformed_message():
    with pytest.raises(SaslFailure):
        OAuthBearerServer(UnsecuredJwsValidator()).evaluate(b"garbage")
