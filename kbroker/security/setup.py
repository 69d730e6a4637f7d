"""The broker's security as configured: its listeners, each one's TLS context and SASL setup, the certificate
principal mapper and the authorizer. Built once at start-up from the static settings, failing like Kafka's start-up
does on a bad setting."""
from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from kbroker.security.acl_store import AclStore, FileAclStore, MemoryAclStore
from kbroker.security.authorizer import AUTHORIZER_CLASSES, Authorizer, parse_super_users
from kbroker.security.listeners import Listener, ListenerSetup, listener_setup
from kbroker.security.principal import ANONYMOUS, PrincipalMapper, subject_dn
from kbroker.security.sasl_config import ListenerSasl, listener_sasl, scram_lookup
from kbroker.security.session import ConnectionAuth
from kbroker.security.tls import listener_settings, server_context


class SecurityConfigError(ValueError):
    pass


@dataclass
class BrokerSecurity:
    setup: ListenerSetup
    tls: dict[str, ssl.SSLContext] = field(default_factory=dict)
    sasl: dict[str, ListenerSasl] = field(default_factory=dict)
    mappers: dict[str, PrincipalMapper] = field(default_factory=dict)
    authorizer: Authorizer | None = None
    scram: Callable[[], Mapping] = dict

    @classmethod
    def from_settings(cls, settings: Mapping[str, str], *, data_dir: Path | None = None,
                      scram: Callable[[], Mapping] = dict, acl_store: AclStore | None = None) -> "BrokerSecurity":
        """`settings`: the keys that are set (static then dynamic layers merged)."""
        try:
            setup = listener_setup(settings)
            out = cls(setup, scram=scram)
            for lst in setup.listeners:
                if lst.tls:
                    ssl_settings = listener_settings(settings, lst.name)
                    out.tls[lst.name] = server_context(ssl_settings)
                    out.mappers[lst.name] = PrincipalMapper(ssl_settings.get("ssl.principal.mapping.rules"))
                if lst.sasl:
                    out.sasl[lst.name] = listener_sasl(settings, lst.name)
        except ValueError as exc:
            raise SecurityConfigError(str(exc)) from exc
        cls_name = (settings.get("authorizer.class.name") or "").strip()
        if cls_name:
            if cls_name not in AUTHORIZER_CLASSES:
                raise SecurityConfigError(f"authorizer.class.name={cls_name} is not supported; use "
                                          "org.apache.kafka.metadata.authorizer.StandardAuthorizer")
            store = acl_store or (FileAclStore(data_dir / "acls.json") if data_dir is not None else MemoryAclStore())
            allow = (settings.get("allow.everyone.if.no.acl.found") or "false").strip().lower() == "true"
            out.authorizer = Authorizer(store, parse_super_users(settings.get("super.users")), allow)
        return out

    def connection(self, listener: Listener, peercert: dict | None = None) -> ConnectionAuth:
        """A new connection's authentication state. Raises ValueError when an mTLS subject matches no
        ssl.principal.mapping.rules rule (Kafka fails that connection's authentication)."""
        principal = ANONYMOUS
        if peercert and not listener.sasl and listener.name in self.mappers:
            principal = "User:" + self.mappers[listener.name].name(subject_dn(peercert))
        return ConnectionAuth(listener, self.sasl.get(listener.name), scram_lookup(self.scram), principal=principal)
