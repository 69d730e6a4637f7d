"""A server SSLContext from Kafka's `ssl.*` keys, with the standard library's ssl module.

Only PEM stores are supported (`ssl.keystore.type=PEM`, `ssl.truststore.type=PEM`): either `ssl.keystore.location`
naming a file with the private key and the certificate chain, or the PEM text itself in
`ssl.keystore.certificate.chain` + `ssl.keystore.key`; trust from `ssl.truststore.location` or
`ssl.truststore.certificates`. `settings` is the listener's view of the configuration (see `listener_settings`).
"""
from __future__ import annotations

import os
import ssl
import tempfile
from typing import Mapping

_PROTOCOLS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3,
              "TLSv1.1": ssl.TLSVersion.TLSv1_1, "TLSv1": ssl.TLSVersion.TLSv1}
_CLIENT_AUTH = {"none": ssl.CERT_NONE, "requested": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}


class SslConfigError(ValueError):
    """The ssl.* settings cannot make a context (Kafka fails the broker's start up the same way)."""


def listener_settings(config: Mapping[str, object], listener: str, prefix: str = "ssl.") -> dict[str, str]:
    """`<prefix>*` keys with `listener.name.<listener lower case>.<prefix>*` overriding them, as Kafka resolves
    listener-scoped settings."""
    scoped = f"listener.name.{listener.lower()}."
    out = {k: _text(v) for k, v in config.items() if k.startswith(prefix) and v is not None}
    for k, v in config.items():
        if k.startswith(scoped + prefix) and v is not None:
            out[k[len(scoped):]] = _text(v)
    return out


def _text(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def _list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def server_context(settings: Mapping[str, str]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _load_keystore(ctx, settings)
    _load_truststore(ctx, settings)
    auth = (settings.get("ssl.client.auth") or "none").strip().lower()
    if auth not in _CLIENT_AUTH:
        raise SslConfigError(f"Invalid value {auth} for configuration ssl.client.auth: must be none, requested or "
                             "required")
    ctx.verify_mode = _CLIENT_AUTH[auth]
    _set_protocols(ctx, _list(settings.get("ssl.enabled.protocols") or "TLSv1.2,TLSv1.3"))
    ciphers = _list(settings.get("ssl.cipher.suites"))
    if ciphers:
        _set_ciphers(ctx, ciphers)
    return ctx


def _load_keystore(ctx: ssl.SSLContext, s: Mapping[str, str]) -> None:
    kind = (s.get("ssl.keystore.type") or "PEM").upper()
    if kind != "PEM":
        raise SslConfigError(f"ssl.keystore.type={kind} is not supported; use PEM")
    password = s.get("ssl.key.password") or None
    location, chain, key = s.get("ssl.keystore.location"), s.get("ssl.keystore.certificate.chain"), \
        s.get("ssl.keystore.key")
    if location and (chain or key):
        raise SslConfigError("Both ssl.keystore.location and ssl.keystore.certificate.chain/ssl.keystore.key are "
                             "set; use one")
    try:
        if location:
            ctx.load_cert_chain(location, password=password)
        elif chain and key:
            with tempfile.TemporaryDirectory(prefix="kbroker-ssl-") as tmp:
                path = os.path.join(tmp, "keystore.pem")
                fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(_pem(key) + "\n" + _pem(chain) + "\n")
                ctx.load_cert_chain(path, password=password)
        else:
            raise SslConfigError("An SSL listener needs ssl.keystore.location, or ssl.keystore.certificate.chain and "
                                 "ssl.keystore.key")
    except (ssl.SSLError, OSError) as exc:
        raise SslConfigError(f"Failed to load SSL keystore: {exc}") from exc


def _load_truststore(ctx: ssl.SSLContext, s: Mapping[str, str]) -> None:
    kind = (s.get("ssl.truststore.type") or "PEM").upper()
    location, certificates = s.get("ssl.truststore.location"), s.get("ssl.truststore.certificates")
    if not (location or certificates):
        return
    if kind != "PEM":
        raise SslConfigError(f"ssl.truststore.type={kind} is not supported; use PEM")
    try:
        if location:
            ctx.load_verify_locations(cafile=location)
        if certificates:
            ctx.load_verify_locations(cadata=_pem(certificates))
    except (ssl.SSLError, OSError) as exc:
        raise SslConfigError(f"Failed to load SSL truststore: {exc}") from exc


def _pem(text: str) -> str:
    """Kafka lets PEM text in a properties file sit on one line; put the line breaks back."""
    if "\n" in text.strip():
        return text.strip()
    import re
    blocks = re.findall(r"(-----BEGIN [A-Z0-9 ]+-----)(.*?)(-----END [A-Z0-9 ]+-----)", text)
    return "\n".join(f"{b}\n" + "\n".join(body.split()) + f"\n{e}" for b, body, e in blocks)


def _set_protocols(ctx: ssl.SSLContext, protocols: list[str]) -> None:
    unknown = [p for p in protocols if p not in _PROTOCOLS]
    versions = sorted(_PROTOCOLS[p] for p in protocols if p in _PROTOCOLS)
    if unknown or not versions:
        raise SslConfigError(f"ssl.enabled.protocols: unsupported {unknown or protocols}")
    ctx.minimum_version, ctx.maximum_version = versions[0], versions[-1]


# JSSE (IANA) names Kafka users write, mapped to OpenSSL's; TLS 1.3 suites are always on in OpenSSL via Python
_IANA_TO_OPENSSL = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256": "DHE-RSA-AES128-GCM-SHA256",
    "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384": "DHE-RSA-AES256-GCM-SHA384",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
}
_TLS13 = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}


def _set_ciphers(ctx: ssl.SSLContext, suites: list[str]) -> None:
    names = [_IANA_TO_OPENSSL.get(s, s) for s in suites if s not in _TLS13]
    if not names:
        return  # only TLS 1.3 suites named: OpenSSL's TLS 1.3 set stays as it is (see known-differences)
    try:
        ctx.set_ciphers(":".join(names))
    except ssl.SSLError as exc:
        raise SslConfigError(f"ssl.cipher.suites: none of {suites} is available") from exc
