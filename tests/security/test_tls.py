"""Server SSL contexts from Kafka's ssl.* keys, exercised by real TLS handshakes over loopback sockets with
certificates generated for the test."""
from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

import pytest

from kbroker.security.principal import PrincipalMapper, subject_dn
from kbroker.security.tls import SslConfigError, listener_settings, server_context
from kbroker.testing.certs import TestCA


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    ca = TestCA(tmp_path_factory.mktemp("pki"))
    return {"ca": ca, "server": ca.issue("server", {"CN": "localhost"}, server=True),
            "client": ca.issue("client", {"C": "US", "O": "Acme", "OU": "eng", "CN": "alice"}),
            "expired": ca.issue("expired", {"CN": "old"}, expired=True),
            "locked": ca.issue("locked", {"CN": "localhost"}, server=True, password="kpass")}


def handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> tuple[dict | None, str | None, str]:
    """Run one TLS handshake; return (peer cert seen by the server, server error, negotiated version)."""
    lsock = socket.create_server(("127.0.0.1", 0))
    port = lsock.getsockname()[1]
    seen: dict = {}

    def serve():
        conn, _ = lsock.accept()
        conn.settimeout(10)
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                seen["cert"] = tls.getpeercert()
                seen["version"] = tls.version()
                tls.sendall(b"ok")
        except (ssl.SSLError, OSError) as exc:
            seen["error"] = str(exc)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    version = ""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.recv(2)
                version = tls.version() or ""
    finally:
        t.join(10)
        lsock.close()
    return seen.get("cert"), seen.get("error"), version


def client_ctx(pki, cert: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki["ca"].cert_path))
    if cert:
        ctx.load_cert_chain(str(pki[cert].cert_path), str(pki[cert].key_path))
    return ctx


def test_keystore_location_with_key_and_chain(pki):
    ctx = server_context({"ssl.keystore.type": "PEM", "ssl.keystore.location": str(pki["server"].keystore_path)})
    cert, err, version = handshake(ctx, client_ctx(pki))
    assert err is None and version in ("TLSv1.2", "TLSv1.3") and not cert


def test_inline_chain_and_key_on_one_line(pki):
    one_line = lambda pem: " ".join(pem.split("\n"))  # noqa: E731 (Kafka allows PEM on one properties line)
    ctx = server_context({"ssl.keystore.type": "PEM", "ssl.keystore.certificate.chain": one_line(pki["server"].cert_pem),
                          "ssl.keystore.key": one_line(pki["server"].key_pem)})
    assert handshake(ctx, client_ctx(pki))[1] is None


def test_encrypted_key_needs_ssl_key_password(pki):
    with pytest.raises(SslConfigError):
        server_context({"ssl.keystore.location": str(pki["locked"].keystore_path), "ssl.key.password": "bad"})
    ctx = server_context({"ssl.keystore.location": str(pki["locked"].keystore_path), "ssl.key.password": "kpass"})
    assert handshake(ctx, client_ctx(pki))[1] is None


def test_mtls_required_gives_principal(pki):
    ctx = server_context({"ssl.keystore.location": str(pki["server"].keystore_path),
                          "ssl.truststore.certificates": pki["ca"].cert_pem, "ssl.client.auth": "required"})
    cert, err, _ = handshake(ctx, client_ctx(pki, "client"))
    assert err is None
    dn = subject_dn(cert)
    assert dn == "CN=alice,OU=eng,O=Acme,C=US"
    assert PrincipalMapper("RULE:^CN=(.*?),OU=(.*?),.*$/$1@$2/L").name(dn) == "alice@eng"


def test_mtls_required_refuses_client_without_cert(pki):
    ctx = server_context({"ssl.keystore.location": str(pki["server"].keystore_path),
                          "ssl.truststore.location": str(pki["ca"].cert_path), "ssl.client.auth": "required"})
    with pytest.raises((ssl.SSLError, OSError)):
        handshake(ctx, client_ctx(pki))


def test_mtls_refuses_expired_client_cert(pki):
    ctx = server_context({"ssl.keystore.location": str(pki["server"].keystore_path),
                          "ssl.truststore.location": str(pki["ca"].cert_path), "ssl.client.auth": "required"})
    with pytest.raises((ssl.SSLError, OSError)):
        _, err, _ = handshake(ctx, client_ctx(pki, "expired"))
        assert err is not None  # TLS 1.3: the client may only learn of it on read
        raise ssl.SSLError(err)


def test_mtls_requested_allows_anonymous(pki):
    ctx = server_context({"ssl.keystore.location": str(pki["server"].keystore_path),
                          "ssl.truststore.location": str(pki["ca"].cert_path), "ssl.client.auth": "requested"})
    cert, err, _ = handshake(ctx, client_ctx(pki))
    assert err is None and not cert
    cert, err, _ = handshake(ctx, client_ctx(pki, "client"))
    assert err is None and subject_dn(cert).startswith("CN=alice")


def test_enabled_protocols_and_ciphers(pki):
    base = {"ssl.keystore.location": str(pki["server"].keystore_path)}
    ctx = server_context({**base, "ssl.enabled.protocols": "TLSv1.2",
                          "ssl.cipher.suites": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"})
    _, err, version = handshake(ctx, client_ctx(pki))
    assert err is None and version == "TLSv1.2"
    with pytest.raises(SslConfigError):
        server_context({**base, "ssl.enabled.protocols": "SSLv3"})
    with pytest.raises(SslConfigError):
        server_context({**base, "ssl.cipher.suites": "NOT_A_CIPHER"})


@pytest.mark.parametrize("settings", [
    {}, {"ssl.keystore.type": "JKS", "ssl.keystore.location": "/x"},
    {"ssl.keystore.location": "/nonexistent.pem"}, {"ssl.client.auth": "maybe"},
])
def test_bad_settings_fail_clearly(settings, pki):
    if settings.get("ssl.client.auth"):
        settings = {**settings, "ssl.keystore.location": str(pki["server"].keystore_path)}
    with pytest.raises(SslConfigError):
        server_context(settings)


def test_listener_settings_prefer_listener_scoped_keys():
    cfg = {"ssl.client.auth": "none", "listener.name.internal.ssl.client.auth": "required",
           "ssl.enabled.protocols": ["TLSv1.2", "TLSv1.3"], "other": "x"}
    assert listener_settings(cfg, "INTERNAL") == {"ssl.client.auth": "required",
                                                  "ssl.enabled.protocols": "TLSv1.2,TLSv1.3"}
    assert listener_settings(cfg, "EXTERNAL")["ssl.client.auth"] == "none"
