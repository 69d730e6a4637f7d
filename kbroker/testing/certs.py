"""Throw-away certificates for tests: a CA, server and client certificates signed by it, written as PEM.

Needs the `cryptography` package (the test extra). The server certificate names localhost and 127.0.0.1 so
clients that verify host names accept it.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Issued:
    cert_pem: str
    key_pem: str
    cert_path: Path
    key_path: Path
    keystore_path: Path
    """key + certificate chain in one file, as `ssl.keystore.location` with `ssl.keystore.type=PEM` wants."""


class TestCA:
    __test__ = False  # not a pytest class

    def __init__(self, directory: Path, name: str = "kbroker test CA") -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.timezone.utc)
        self._cert = (x509.CertificateBuilder().subject_name(self._name).issuer_name(self._name)
                      .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
                      .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
                      .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                      .sign(self._key, hashes.SHA256()))
        self.cert_pem = self._pem_cert(self._cert)
        self.cert_path = self.dir / "ca.pem"
        self.cert_path.write_text(self.cert_pem)

    @staticmethod
    def _pem_cert(cert) -> str:  # type: ignore[no-untyped-def]
        from cryptography.hazmat.primitives import serialization
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    def issue(self, stem: str, subject: dict[str, str] | None = None, *, server: bool = False,
              expired: bool = False, password: str | None = None) -> Issued:
        """A certificate signed by this CA. `subject` maps OID names (CN, O, OU, C, L, ST) to values."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
        oids = {"CN": NameOID.COMMON_NAME, "O": NameOID.ORGANIZATION_NAME, "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
                "C": NameOID.COUNTRY_NAME, "L": NameOID.LOCALITY_NAME, "ST": NameOID.STATE_OR_PROVINCE_NAME}
        subject = subject or {"CN": stem}
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        start, end = (now - dt.timedelta(days=10), now - dt.timedelta(days=1)) if expired else \
            (now - dt.timedelta(days=1), now + dt.timedelta(days=30))
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(oids[k], v) for k, v in subject.items()]))
                   .issuer_name(self._name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(end)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage(
                       [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        encryption = (serialization.BestAvailableEncryption(password.encode()) if password
                      else serialization.NoEncryption())
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    encryption).decode()
        cert_pem = self._pem_cert(cert) + self.cert_pem
        paths = (self.dir / f"{stem}.crt", self.dir / f"{stem}.key", self.dir / f"{stem}.keystore.pem")
        paths[0].write_text(cert_pem)
        paths[1].write_text(key_pem)
        paths[2].write_text(key_pem + cert_pem)
        for p in paths[1:]:
            p.chmod(0o600)
        return Issued(cert_pem, key_pem, *paths)
