"""SASL/OAUTHBEARER server (RFC 7628) with Kafka's unsecured JWS validator (for development only).

The client's initial response is `gs2-header \x01auth=Bearer <token>\x01[key=value\x01...]\x01`. The token is an
unsigned JWS (`alg: none`): header.payload. with a principal claim (`sub` unless
`unsecuredValidatorPrincipalClaimName` says otherwise), a numeric `exp` in seconds, optional `iat` and scope. On a bad
token the server answers RFC 7628's JSON error challenge; the client's `\x01` reply then ends the exchange with a
failure, as Kafka's OAuthBearerSaslServer does.
"""
from __future__ import annotations

import base64
import json
import re
import time
from typing import Callable

from kbroker.security.errors import SaslFailure

_KVSEP = "\x01"
_AUTH = re.compile(r"^auth=Bearer\s+([A-Za-z0-9._~+/=-]+)\s*$", re.I)


def _b64url_json(part: str) -> dict:
    padded = part + "=" * (-len(part) % 4)
    value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


class UnsecuredJwsValidator:
    """Kafka's OAuthBearerUnsecuredValidatorCallbackHandler, configured from the JAAS options."""

    def __init__(self, options: dict[str, str] | None = None, clock: Callable[[], float] = time.time) -> None:
        options = options or {}
        self.principal_claim = options.get("unsecuredValidatorPrincipalClaimName", "sub") or "sub"
        self.scope_claim = options.get("unsecuredValidatorScopeClaimName", "scope") or "scope"
        self.required_scope = [s for s in re.split(r"\s+", options.get("unsecuredValidatorRequiredScope", ""))
                               if s]
        self.clock_skew_ms = int(options.get("unsecuredValidatorAllowableClockSkewMs", "0") or 0)
        self._clock = clock

    def validate(self, token: str) -> tuple[str, int]:
        """(principal name, lifetime ms since epoch) of a valid token; ValueError(status) otherwise."""
        parts = token.split(".")
        if len(parts) != 3 or parts[2] != "":
            raise ValueError("invalid_token")
        try:
            header, claims = _b64url_json(parts[0]), _b64url_json(parts[1])
        except (ValueError, UnicodeDecodeError):
            raise ValueError("invalid_token") from None
        if header.get("alg") != "none":
            raise ValueError("invalid_token")
        now_ms = self._clock() * 1000
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or isinstance(exp, bool):
            raise ValueError("invalid_token")
        lifetime_ms = int(exp * 1000)
        if now_ms > lifetime_ms + self.clock_skew_ms:
            raise ValueError("invalid_token")
        iat = claims.get("iat")
        if iat is not None and (not isinstance(iat, (int, float)) or iat * 1000 > now_ms + self.clock_skew_ms):
            raise ValueError("invalid_token")
        principal = claims.get(self.principal_claim)
        if not isinstance(principal, str) or not principal.strip():
            raise ValueError("invalid_token")
        if self.required_scope:
            scope = claims.get(self.scope_claim)
            granted = set(scope.split() if isinstance(scope, str) else scope if isinstance(scope, list) else [])
            if not set(self.required_scope) <= granted:
                raise ValueError("insufficient_scope")
        return principal, lifetime_ms


class OAuthBearerServer:
    mechanism = "OAUTHBEARER"

    def __init__(self, validator: UnsecuredJwsValidator) -> None:
        self._validator = validator
        self._error_sent: str | None = None
        self.complete = False
        self.authorization_id: str | None = None
        self.lifetime_ms: int | None = None
        self.extensions: dict[str, str] = {}

    def evaluate(self, response: bytes) -> bytes:
        if self._error_sent is not None:
            # RFC 7628 3.2.3: after an error challenge the client sends a lone %x01 and the exchange fails
            raise SaslFailure(f"Authentication failed: {self._error_sent}", public=True)
        text = response.decode("utf-8", errors="replace")
        if text == _KVSEP:
            raise SaslFailure("Authentication failed: unexpected empty OAUTHBEARER response", public=True)
        gs2, sep, rest = text.partition(_KVSEP)
        m_gs2 = re.match(r"^([ny]),(?:a=([^,]*))?,$", gs2)
        if not sep or not m_gs2 or not rest.endswith(_KVSEP + _KVSEP) and rest != _KVSEP:
            raise SaslFailure(f"Invalid OAUTHBEARER client first message", public=True)
        pairs = [p for p in rest.split(_KVSEP) if p]
        token = None
        for pair in pairs:
            m = _AUTH.match(pair)
            if m:
                token = m.group(1)
            elif "=" in pair:
                key, value = pair.split("=", 1)
                self.extensions[key] = value
        if token is None:
            raise SaslFailure("Invalid OAUTHBEARER client first message: no auth", public=True)
        try:
            principal, lifetime_ms = self._validator.validate(token)
        except ValueError as exc:
            self._error_sent = json.dumps({"status": str(exc)}, separators=(",", ":"))
            return self._error_sent.encode()
        authzid = m_gs2.group(2)
        if authzid and authzid != principal:
            self._error_sent = json.dumps({"status": "invalid_authorization_id"}, separators=(",", ":"))
            return self._error_sent.encode()
        self.authorization_id, self.lifetime_ms, self.complete = principal, lifetime_ms, True
        return b""


def unsecured_token(principal: str, lifetime_s: float = 3600, now: float | None = None, **claims: object) -> str:
    """An unsecured JWS as Kafka's OAuthBearerUnsecuredLoginCallbackHandler makes it (for tests and tools)."""
    now = time.time() if now is None else now
    def enc(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
    body = {"sub": principal, "iat": now, "exp": now + lifetime_s, **claims}
    return f"{enc({'alg': 'none'})}.{enc(body)}."
