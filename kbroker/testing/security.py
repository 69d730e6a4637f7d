"""A secured kbroker for tests: a generated CA and certificates, Kafka's listener/SSL/SASL keys for a broker with
PLAINTEXT, SASL_PLAINTEXT, SSL and SASL_SSL listeners, SCRAM users created through AlterUserScramCredentials, and
the client settings for confluent-kafka, kafka-python, aiokafka and kcat.

    sec = SecureSetup(tmp_path, users={"alice": "alice-secret"})
    with KafkaBroker.start(config=sec.broker_config()) as kafka:
        sec.create_scram_users(kafka)
        Producer(sec.confluent(kafka, "SASL_SSL", "SCRAM-SHA-256", "alice"))
"""
from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbroker.testing.certs import Issued, TestCA

PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT", "SSL", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")
_PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"


@dataclass
class SecureSetup:
    directory: Path
    users: dict[str, str] = field(default_factory=lambda: {"alice": "alice-secret", "bob": "bob-secret"})
    ca: TestCA = field(init=False)
    server: Issued = field(init=False)
    client: Issued = field(init=False)

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)
        self.ca = TestCA(self.directory)
        self.server = self.ca.issue("server", {"CN": "localhost"}, server=True)
        self.client = self.ca.issue("client", {"CN": "client", "O": "kbroker tests"})

    def broker_config(self, listeners: tuple[str, ...] = PROTOCOLS, mechanisms: tuple[str, ...] = MECHANISMS,
                      client_auth: str = "requested", **extra: Any) -> dict[str, str]:
        """Kafka's keys for a broker on 127.0.0.1 with one listener per protocol (port 0: any free port)."""
        jaas = f'{_PLAIN_MODULE} required ' + " ".join(f'user_{u}="{p}"' for u, p in self.users.items()) + ";"
        config = {
            "listeners": ",".join(f"{p}://127.0.0.1:0" for p in listeners),
            "sasl.enabled.mechanisms": ",".join(mechanisms),
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.server.keystore_path),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.ca.cert_path),
            "ssl.client.auth": client_auth,
        }
        for p in listeners:
            if p.startswith("SASL"):
                config[f"listener.name.{p.lower()}.plain.sasl.jaas.config"] = jaas
        config.update({k.replace("_", "."): str(v) for k, v in extra.items()})
        return config

    def create_scram_users(self, kafka: Any, iterations: int = 4096) -> None:
        """Every user gets SCRAM-SHA-256 and -512 credentials, set through the PLAINTEXT listener."""
        from confluent_kafka.admin import (AdminClient, ScramCredentialInfo, ScramMechanism,
                                           UserScramCredentialUpsertion)
        admin = AdminClient({"bootstrap.servers": bootstrap(kafka, "PLAINTEXT")})
        for m in (ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512):  # a user once per request
            alterations = [UserScramCredentialUpsertion(u, ScramCredentialInfo(m, iterations), p.encode())
                           for u, p in self.users.items()]
            for future in admin.alter_user_scram_credentials(alterations, request_timeout=15).values():
                future.result(timeout=15)

    # -- client settings

    def confluent(self, kafka: Any, listener: str, mechanism: str | None = None, user: str | None = None,
                  password: str | None = None, **extra: Any) -> dict[str, Any]:
        """confluent-kafka / librdkafka settings (kcat takes the same as -X key=value)."""
        protocol = listener.upper()
        out: dict[str, Any] = {"bootstrap.servers": bootstrap(kafka, protocol), "security.protocol": protocol}
        if "SSL" in protocol:
            out["ssl.ca.location"] = str(self.ca.cert_path)
        if protocol.startswith("SASL"):
            mechanism = mechanism or "SCRAM-SHA-256"
            out["sasl.mechanisms"] = mechanism
            if mechanism == "OAUTHBEARER":
                out["sasl.oauthbearer.config"] = f"principal={user or 'alice'}"
                out["enable.sasl.oauthbearer.unsecure.jwt"] = True
            else:
                user = user or next(iter(self.users))
                out["sasl.username"] = user
                out["sasl.password"] = password if password is not None else self.users[user]
        out.update(extra)
        return out

    def mtls(self, kafka: Any, **extra: Any) -> dict[str, Any]:
        """confluent-kafka settings for the SSL listener with the client certificate."""
        return self.confluent(kafka, "SSL", **{"ssl.certificate.location": str(self.client.cert_path),
                                                "ssl.key.location": str(self.client.key_path), **extra})

    def kafka_python(self, kafka: Any, listener: str, mechanism: str | None = None, user: str | None = None,
                     password: str | None = None) -> dict[str, Any]:
        protocol = listener.upper()
        out: dict[str, Any] = {"bootstrap_servers": bootstrap(kafka, protocol), "security_protocol": protocol}
        if "SSL" in protocol:
            out["ssl_cafile"] = str(self.ca.cert_path)
        if protocol.startswith("SASL"):
            user = user or next(iter(self.users))
            out.update(sasl_mechanism=mechanism or "SCRAM-SHA-256", sasl_plain_username=user,
                       sasl_plain_password=password if password is not None else self.users[user])
        return out

    def aiokafka(self, kafka: Any, listener: str, mechanism: str | None = None, user: str | None = None,
                 password: str | None = None) -> dict[str, Any]:
        protocol = listener.upper()
        out: dict[str, Any] = {"bootstrap_servers": bootstrap(kafka, protocol), "security_protocol": protocol}
        if "SSL" in protocol:
            out["ssl_context"] = ssl.create_default_context(cafile=str(self.ca.cert_path))
        if protocol.startswith("SASL"):
            user = user or next(iter(self.users))
            out.update(sasl_mechanism=mechanism or "SCRAM-SHA-256", sasl_plain_username=user,
                       sasl_plain_password=password if password is not None else self.users[user])
        return out

    def kcat_args(self, kafka: Any, listener: str, mechanism: str | None = None, user: str | None = None,
                  password: str | None = None, mtls: bool = False) -> list[str]:
        settings = self.mtls(kafka) if mtls else self.confluent(kafka, listener, mechanism, user, password)
        args = ["-b", settings.pop("bootstrap.servers")]
        for key, value in settings.items():
            args += ["-X", f"{key}={str(value).lower() if isinstance(value, bool) else value}"]
        return args


def bootstrap(kafka: Any, listener: str) -> str:
    """host:port of a listener of a broker started in-process (KafkaBroker.start) or a Running."""
    running = getattr(getattr(kafka, "runner", kafka), "running", kafka)
    return running.bootstrap_for(listener)


class SecureBroker:
    """A running secured broker and its client settings (what the `kafka_secure_broker` fixture yields):
    `confluent(listener, mechanism, user)`, `kafka_python(...)`, `aiokafka(...)`, `kcat_args(...)`, `mtls()`,
    `bootstrap(listener)`; `kafka` is the KafkaBroker handle, `setup` the SecureSetup (CA, users)."""

    def __init__(self, setup: SecureSetup, kafka: Any) -> None:
        self.setup, self.kafka = setup, kafka

    def bootstrap(self, listener: str) -> str:
        return bootstrap(self.kafka, listener)

    def confluent(self, listener: str = "SASL_SSL", mechanism: str | None = None, user: str | None = None,
                  password: str | None = None, **extra: Any) -> dict[str, Any]:
        return self.setup.confluent(self.kafka, listener, mechanism, user, password, **extra)

    def mtls(self, **extra: Any) -> dict[str, Any]:
        return self.setup.mtls(self.kafka, **extra)

    def kafka_python(self, listener: str = "SASL_SSL", mechanism: str | None = None, user: str | None = None,
                     password: str | None = None) -> dict[str, Any]:
        return self.setup.kafka_python(self.kafka, listener, mechanism, user, password)

    def aiokafka(self, listener: str = "SASL_SSL", mechanism: str | None = None, user: str | None = None,
                 password: str | None = None) -> dict[str, Any]:
        return self.setup.aiokafka(self.kafka, listener, mechanism, user, password)

    def kcat_args(self, listener: str = "SASL_SSL", mechanism: str | None = None, user: str | None = None,
                  password: str | None = None, mtls: bool = False) -> list[str]:
        return self.setup.kcat_args(self.kafka, listener, mechanism, user, password, mtls)

    @classmethod
    def start(cls, directory: Path, *, users: dict[str, str] | None = None, config: dict[str, Any] | None = None,
              **kw: Any) -> "SecureBroker":
        from kbroker.testing import KafkaBroker
        setup = SecureSetup(directory, users or {"alice": "alice-secret", "bob": "bob-secret"})
        kafka = KafkaBroker.start(config={**setup.broker_config(), **{k: str(v) for k, v in (config or {}).items()}},
                                  **kw)
        try:
            setup.create_scram_users(kafka)
        except BaseException:
            kafka.stop()
            raise
        return cls(setup, kafka)

    def stop(self) -> None:
        self.kafka.stop()
