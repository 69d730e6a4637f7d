"""Which SASL mechanisms a listener offers and how each one checks credentials, from Kafka's keys:
`sasl.enabled.mechanisms` (or `listener.name.<l>.sasl.enabled.mechanisms`), PLAIN users from
`listener.name.<l>.plain.sasl.jaas.config`, OAUTHBEARER validator options from
`listener.name.<l>.oauthbearer.sasl.jaas.config`, SCRAM credentials from the cluster metadata (AlterUserScramCredentials),
`connections.max.reauth.ms` (or `listener.name.<l>.<mechanism>.connections.max.reauth.ms`)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Mapping

from kbroker.security.jaas import parse_jaas, plain_users
from kbroker.security.oauthbearer import OAuthBearerServer, UnsecuredJwsValidator
from kbroker.security.plain import PlainServer, users_check
from kbroker.security.scram import HASHES, MECHANISM_IDS, CredentialLookup, ScramCredential, ScramServer, TokenLookup

log = logging.getLogger(__name__)

SUPPORTED = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")


class SaslConfigError(ValueError):
    pass


@dataclass
class ListenerSasl:
    listener: str
    mechanisms: list[str]
    plain: dict[str, str] = field(default_factory=dict)
    oauth_options: dict[str, str] = field(default_factory=dict)
    reauth_ms: dict[str, int] = field(default_factory=dict)
    max_receive: int = 524288
    failure_delay_ms: int = 100

    def server(self, mechanism: str, scram: CredentialLookup, tokens: TokenLookup | None = None):  # type: ignore[no-untyped-def]
        if mechanism == "PLAIN":
            return PlainServer(users_check(self.plain))
        if mechanism in HASHES:
            return ScramServer(mechanism, scram, tokens)
        if mechanism == "OAUTHBEARER":
            return OAuthBearerServer(UnsecuredJwsValidator(self.oauth_options))
        raise SaslConfigError(f"unsupported mechanism {mechanism}")


def _get(settings: Mapping[str, str], listener: str, key: str) -> str | None:
    scoped = f"listener.name.{listener.lower()}.{key}"
    return settings.get(scoped) if settings.get(scoped) is not None else settings.get(key)


def listener_sasl(settings: Mapping[str, str], listener: str) -> ListenerSasl:
    """The SASL setup of one SASL_PLAINTEXT / SASL_SSL listener. `settings` holds the keys that are set."""
    wanted = [m.strip().upper() for m in (_get(settings, listener, "sasl.enabled.mechanisms") or "GSSAPI").split(",")
              if m.strip()]
    unsupported = [m for m in wanted if m not in SUPPORTED]
    if unsupported:
        log.warning("listener %s: SASL mechanisms %s are not supported by kbroker and are not offered", listener,
                    ",".join(unsupported))
    mechanisms = [m for m in wanted if m in SUPPORTED]
    if not mechanisms:
        raise SaslConfigError(f"listener {listener}: none of sasl.enabled.mechanisms={','.join(wanted)} is "
                              f"supported (kbroker offers {', '.join(SUPPORTED)})")
    out = ListenerSasl(listener, mechanisms)
    prefix = f"listener.name.{listener.lower()}."
    if "PLAIN" in mechanisms:
        text = settings.get(prefix + "plain.sasl.jaas.config")
        if not text:
            raise SaslConfigError(f"Could not find a 'KafkaServer' or '{prefix}plain.sasl.jaas.config' entry for "
                                  f"SASL/PLAIN on listener {listener}")
        out.plain = plain_users(parse_jaas(text)[1])
    if "OAUTHBEARER" in mechanisms:
        text = settings.get(prefix + "oauthbearer.sasl.jaas.config")
        out.oauth_options = parse_jaas(text)[1] if text else {}
    for m in mechanisms:
        value = settings.get(f"{prefix}{m.lower()}.connections.max.reauth.ms") or \
            settings.get("connections.max.reauth.ms") or "0"
        out.reauth_ms[m] = int(value)
    out.max_receive = int(settings.get("sasl.server.max.receive.size") or 524288)
    out.failure_delay_ms = int(settings.get("connection.failed.authentication.delay.ms") or 100)
    return out


def scram_lookup(credentials: Callable[[], Mapping[str, Mapping[int, Mapping[str, object]]]]) -> CredentialLookup:
    """Credentials as kbroker's metadata stores them (user -> mechanism id -> hex salt / salted_password)."""
    ids = {name: i for i, name in MECHANISM_IDS.items()}

    def lookup(mechanism: str, user: str) -> ScramCredential | None:
        stored = credentials().get(user, {}).get(ids[mechanism])
        if not stored:
            return None
        return ScramCredential.from_salted_password(mechanism, bytes.fromhex(str(stored["salt"])),
                                                    int(stored["iterations"]),  # type: ignore[call-overload]
                                                    bytes.fromhex(str(stored["salted_password"])))
    return lookup
