"""SASL/PLAIN server (RFC 4616), as Kafka's PlainSaslServer: `[authzid] NUL authcid NUL passwd`, one round."""
from __future__ import annotations

import hmac
from typing import Callable

from kbroker.security.errors import SaslFailure

PasswordCheck = Callable[[str, str], bool]


def users_check(users: dict[str, str]) -> PasswordCheck:
    def check(user: str, password: str) -> bool:
        expected = users.get(user)
        return expected is not None and hmac.compare_digest(expected.encode(), password.encode())
    return check


class PlainServer:
    mechanism = "PLAIN"

    def __init__(self, check: PasswordCheck) -> None:
        self._check = check
        self.complete = False
        self.authorization_id: str | None = None
        self.lifetime_ms: int | None = None
        self.extensions: dict[str, str] = {}

    def evaluate(self, response: bytes) -> bytes:
        if self.complete:
            raise SaslFailure("Unexpected SASL/PLAIN response after completion", public=True)
        text = response.decode("utf-8", errors="replace")
        tokens = text.split("\x00")
        if len(tokens) != 3:
            raise SaslFailure(f"Invalid SASL/PLAIN response: expected 3 tokens, got {len(tokens)}", public=True)
        authzid, username, password = tokens
        if not username:
            raise SaslFailure("Authentication failed: username not specified", public=True)
        if not password:
            raise SaslFailure("Authentication failed: password not specified", public=True)
        if not self._check(username, password):
            raise SaslFailure("Authentication failed: Invalid username or password", public=True)
        if authzid and authzid != username:
            raise SaslFailure("Authentication failed: Client requested an authorization id that is different from "
                              "username", public=True)
        self.authorization_id = username
        self.complete = True
        return b""
