"""One connection's authentication, as Kafka's SaslServerAuthenticator and KafkaChannel track it.

PLAINTEXT and SSL connections are authenticated from the start (User:ANONYMOUS, or the mapped certificate subject
under mTLS). On a SASL listener the client may send ApiVersions once, then SaslHandshake, then SaslAuthenticate
rounds until the mechanism completes; anything else before that closes the connection. SaslHandshake v0 switches
to the legacy flow, where the tokens travel as bare size-prefixed frames (`legacy_token`). After a success the
session lasts `connections.max.reauth.ms` (or until the credential expires); a client re-authenticates with a
new SaslHandshake + SaslAuthenticate on the same connection (KIP-368), and a request on an expired session
closes the connection.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from kbroker.security.errors import SaslFailure
from kbroker.security.listeners import Listener
from kbroker.security.principal import ANONYMOUS
from kbroker.security.sasl_config import ListenerSasl
from kbroker.security.scram import CredentialLookup, TokenLookup
from wire.errors import ErrorCode

API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 17, 36


class Disconnect(Exception):
    """Close the connection (Kafka closes it the same way; the reason is for the log)."""


@dataclass
class Answer:
    """A SASL response body and what to do after sending it."""
    body: dict
    close_after: bool = False
    delay_s: float = 0.0
    """Kafka delays the answer to a failed authentication (connection.failed.authentication.delay.ms)."""


class ConnectionAuth:
    def __init__(self, listener: Listener, sasl: ListenerSasl | None = None, scram: CredentialLookup | None = None,
                 tokens: TokenLookup | None = None, principal: str = ANONYMOUS,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self.listener = listener
        self.sasl = sasl
        self._scram = scram or (lambda mech, user: None)
        self._tokens = tokens
        self._clock, self._wall = clock, wall
        self.principal = principal
        self.authenticated = not listener.sasl
        self.state = "complete" if self.authenticated else "versions_or_handshake"
        self.mechanism: str | None = None
        self._server = None
        self.legacy = False
        self.expires_at: float | None = None
        self.reauthenticating = False
        self.token_authenticated = False
        self._after: Answer | None = None

    def take_after_send(self) -> Answer | None:
        """The last SASL answer when it asks for a delay or a close after it is sent (read once)."""
        after, self._after = self._after, None
        return after if after is not None and (after.close_after or after.delay_s > 0) else None

    def _note(self, answer: Answer) -> Answer:
        self._after = answer
        return answer

    # -- the gate in front of every request

    def before_request(self, api_key: int, api_version_supported: bool = True) -> None:
        """Raise Disconnect when this request may not be served now."""
        if self.state == "complete":
            if self.expires_at is not None and self._clock() >= self.expires_at and api_key != SASL_HANDSHAKE:
                raise Disconnect("authentication session expired (connections.max.reauth.ms) and the client did "
                                 "not re-authenticate")
            return
        if self.state == "versions_or_handshake" and api_key == API_VERSIONS:
            if api_version_supported:
                self.state = "handshake"
            return
        if self.state in ("versions_or_handshake", "handshake") and api_key == SASL_HANDSHAKE:
            return
        if self.state == "authenticate" and api_key == SASL_AUTHENTICATE:
            return
        raise Disconnect(f"unexpected request (API key {api_key}) during SASL {self.state.replace('_', ' ')} on "
                         f"listener {self.listener.name}")

    # -- SaslHandshake

    def handshake(self, version: int, mechanism: str) -> Answer:
        if self.sasl is None:  # PLAINTEXT / SSL listener: KafkaApis answers
            return Answer({"error_code": ErrorCode.ILLEGAL_SASL_STATE, "mechanisms": []})
        enabled = list(self.sasl.mechanisms)
        if self.state == "complete":
            # KIP-368: a SaslHandshake on an authenticated SASL connection starts a re-authentication
            if version == 0 or mechanism != self.mechanism:
                return self._note(Answer({"error_code": ErrorCode.ILLEGAL_SASL_STATE, "mechanisms": enabled},
                                         close_after=True))
            self.reauthenticating = True
        elif mechanism not in enabled:
            return self._note(Answer({"error_code": ErrorCode.UNSUPPORTED_SASL_MECHANISM, "mechanisms": enabled},
                                     close_after=True))
        self.mechanism = mechanism
        self._server = self.sasl.server(mechanism, self._scram, self._tokens)
        self.state = "authenticate"
        self.legacy = version == 0
        return Answer({"error_code": ErrorCode.NONE, "mechanisms": enabled})

    # -- SaslAuthenticate

    def authenticate(self, version: int, auth_bytes: bytes) -> Answer:
        if self.state != "authenticate" or self._server is None:
            return Answer({"error_code": ErrorCode.ILLEGAL_SASL_STATE,
                           "error_message": "SaslAuthenticate request received after successful authentication",
                           "auth_bytes": b"", "session_lifetime_ms": 0})
        assert self.sasl is not None and self.mechanism is not None
        if len(auth_bytes) > self.sasl.max_receive:
            raise Disconnect(f"SASL token of {len(auth_bytes)} bytes exceeds sasl.server.max.receive.size")
        try:
            challenge = self._server.evaluate(auth_bytes)
            if self._server.complete:
                self._complete()
        except SaslFailure as exc:
            self.state = "failed"
            return self._note(Answer({"error_code": ErrorCode.SASL_AUTHENTICATION_FAILED,
                           "error_message": exc.client_message(self.mechanism, self.reauthenticating),
                           "auth_bytes": b"", "session_lifetime_ms": 0},
                          close_after=True, delay_s=self.sasl.failure_delay_ms / 1000))
        lifetime = self._lifetime_ms if self.state == "complete" else 0
        return Answer({"error_code": ErrorCode.NONE, "error_message": None, "auth_bytes": challenge,
                       "session_lifetime_ms": lifetime if version >= 1 else 0})

    def legacy_token(self, token: bytes) -> bytes:
        """One token of the unframed flow after SaslHandshake v0; the challenge to send back, size-prefixed by the
        caller. Failures close the connection (the legacy flow has no way to carry an error)."""
        answer = self.authenticate(0, token)
        if answer.body["error_code"] != ErrorCode.NONE:
            raise Disconnect(f"legacy SASL authentication failed: {answer.body.get('error_message')}")
        return answer.body["auth_bytes"]

    _lifetime_ms = 0

    def _complete(self) -> None:
        assert self._server is not None and self.sasl is not None and self.mechanism is not None
        principal = f"User:{self._server.authorization_id}"
        if self.reauthenticating and principal != self.principal:
            raise SaslFailure(f"Cannot change principals during re-authentication from {self.principal}: "
                              f"{principal}", public=True)
        self.principal = principal
        self.token_authenticated = bool(getattr(self._server, "token_authenticated", False))
        max_ms = self.sasl.reauth_ms.get(self.mechanism, 0)
        credential_expiry = self._server.lifetime_ms  # epoch ms (token expiry) or None
        lifetime = max_ms if max_ms > 0 else None
        if credential_expiry is not None:
            left = max(0, int(credential_expiry - self._wall() * 1000))
            lifetime = left if lifetime is None else min(lifetime, left)
        self._lifetime_ms = lifetime or 0
        self.expires_at = self._clock() + lifetime / 1000 if lifetime else None
        self.state = "complete"
        self.authenticated = True
        self.reauthenticating = False
        self.legacy = False
        self._server = None
