"""SCRAM server against RFC 7677's SCRAM-SHA-256 example, a full SHA-512 exchange driven by an independent client
implementation, and Kafka's failure paths."""
from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from kbroker.security.errors import SaslFailure
from kbroker.security.scram import ScramCredential, ScramServer

RFC_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
RFC_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")


def rfc_server(**kw) -> ScramServer:
    cred = ScramCredential.from_password("SCRAM-SHA-256", "pencil", RFC_SALT, 4096)
    return ScramServer("SCRAM-SHA-256", lambda mech, user: cred if user == "user" else None,
                       nonce=lambda: RFC_NONCE, **kw)


def test_rfc7677_example():
    server = rfc_server()
    first = server.evaluate(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
    assert first == b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    final = server.evaluate(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                            b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    assert final == b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    assert server.complete and server.authorization_id == "user"


def test_rfc7677_wrong_proof_fails_with_generic_message():
    server = rfc_server()
    server.evaluate(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
    bad = base64.b64encode(b"\x00" * 32).decode()
    with pytest.raises(SaslFailure) as exc:
        server.evaluate(f"c=biws,r=rOprNGfwEbeRWgbNEkqO{RFC_NONCE},p={bad}".encode())
    assert not exc.value.public
    assert exc.value.client_message("SCRAM-SHA-256") == (
        "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256")
    assert not server.complete
    with pytest.raises(SaslFailure):  # a failed exchange stays failed
        server.evaluate(b"anything")


def _client_proof(mech: str, password: str, salt: bytes, iterations: int, auth_message: bytes) -> bytes:
    h = {"SCRAM-SHA-256": hashlib.sha256, "SCRAM-SHA-512": hashlib.sha512}[mech]
    salted = hashlib.pbkdf2_hmac(h().name, password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", h).digest()
    signature = hmac.new(h(client_key).digest(), auth_message, h).digest()
    return bytes(a ^ b for a, b in zip(client_key, signature))


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_stored_salted_password_roundtrip(mech):
    # the credential as AlterUserScramCredentials stores it: SaltedPassword computed by the client
    salt = b"0123456789abcdef"
    h = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}[mech]
    salted = hashlib.pbkdf2_hmac(h, b"s3cret", salt, 8192)
    cred = ScramCredential.from_salted_password(mech, salt, 8192, salted)
    server = ScramServer(mech, lambda m, u: cred if (m, u) == (mech, "a,b=c") else None)
    first_bare = "n=a=2Cb=3Dc,r=clientnonce"
    server_first = server.evaluate(f"n,,{first_bare}".encode()).decode()
    attrs = dict(p.split("=", 1) for p in server_first.split(","))
    assert attrs["r"].startswith("clientnonce") and len(attrs["r"]) > len("clientnonce")
    assert base64.b64decode(attrs["s"]) == salt and attrs["i"] == "8192"
    without_proof = f"c=biws,r={attrs['r']}"
    auth = f"{first_bare},{server_first},{without_proof}".encode()
    proof = base64.b64encode(_client_proof(mech, "s3cret", salt, 8192, auth)).decode()
    final = server.evaluate(f"{without_proof},p={proof}".encode())
    assert server.complete and server.authorization_id == "a,b=c"
    server_key = hmac.new(salted, b"Server Key", getattr(hashlib, h)).digest()
    assert final == b"v=" + base64.b64encode(hmac.new(server_key, auth, getattr(hashlib, h)).digest())


def test_unknown_user_is_generic_failure():
    with pytest.raises(SaslFailure) as exc:
        rfc_server().evaluate(b"n,,n=nobody,r=abc")
    assert str(exc.value) == "Authentication failed: Invalid user credentials" and not exc.value.public


def test_authzid_different_from_user_is_public():
    with pytest.raises(SaslFailure) as exc:
        rfc_server().evaluate(b"n,a=admin,n=user,r=abc")
    assert exc.value.public and "authorization id that is different" in str(exc.value)


@pytest.mark.parametrize("msg", [b"", b"x", b"p=tls-unique,,n=user,r=abc", b"n,,r=abc", b"n,,n=user",
                                 b"n,,n=us=er,r=abc", b"\xff\xfe"])
def test_malformed_client_first(msg):
    with pytest.raises(SaslFailure):
        rfc_server().evaluate(msg)


def test_wrong_nonce_and_channel_binding():
    s = rfc_server()
    s.evaluate(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
    with pytest.raises(SaslFailure, match="Invalid client nonce"):
        s.evaluate(b"c=biws,r=rOprNGfwEbeRWgbNEkqOother,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    s = rfc_server()
    s.evaluate(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
    with pytest.raises(SaslFailure, match="channel binding"):
        s.evaluate(f"c=eSws,r=rOprNGfwEbeRWgbNEkqO{RFC_NONCE},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
                   .encode())


def test_too_few_iterations_refused():
    cred = ScramCredential.from_password("SCRAM-SHA-256", "pencil", RFC_SALT, 1000)
    s = ScramServer("SCRAM-SHA-256", lambda m, u: cred)
    with pytest.raises(SaslFailure, match="less than the minimum 4096"):
        s.evaluate(b"n,,n=user,r=abc")


def test_token_auth_uses_token_lookup():
    cred = ScramCredential.from_password("SCRAM-SHA-256", "hmac", RFC_SALT, 4096)
    s = ScramServer("SCRAM-SHA-256", lambda m, u: None,
                    tokens=lambda m, tid: (cred, "alice", 123456) if tid == "tok1" else None)
    s.evaluate(b"n,,n=tok1,r=abc,tokenauth=true")
    assert s.authorization_id == "alice" and s.lifetime_ms == 123456 and s.token_authenticated
    with pytest.raises(SaslFailure, match="Invalid tokenId : tok2"):
        ScramServer("SCRAM-SHA-256", lambda m, u: None, tokens=lambda m, t: None).evaluate(
            b"n,,n=tok2,r=abc,tokenauth=true")


def test_librdkafka_doubled_client_nonce_is_accepted():
    """librdkafka < 2.6.1 repeats the client nonce before the server's (librdkafka#4895); the proof is computed over
    what it sent, and a nonce without the server's part is still refused."""
    cred = ScramCredential.from_password("SCRAM-SHA-256", "pencil", RFC_SALT, 4096)
    server = ScramServer("SCRAM-SHA-256", lambda m, u: cred, nonce=lambda: "SERVER")
    first_bare = "n=user,r=CLIENT"
    server_first = server.evaluate(f"n,,{first_bare}".encode()).decode()
    without_proof = "c=biws,r=CLIENTCLIENTSERVER"
    auth = f"{first_bare},{server_first},{without_proof}".encode()
    proof = base64.b64encode(_client_proof("SCRAM-SHA-256", "pencil", RFC_SALT, 4096, auth)).decode()
    assert server.evaluate(f"{without_proof},p={proof}".encode()).startswith(b"v=")
    s2 = ScramServer("SCRAM-SHA-256", lambda m, u: cred, nonce=lambda: "SERVER")
    s2.evaluate(b"n,,n=user,r=CLIENT")
    with pytest.raises(SaslFailure, match="nonce"):
        s2.evaluate(f"c=biws,r=CLIENTCLIENT,p={proof}".encode())
