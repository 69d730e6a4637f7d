"""SASL/SCRAM-SHA-256 and SCRAM-SHA-512 server (RFC 5802, RFC 7677), as Kafka's ScramSaslServer.

Credentials are what AlterUserScramCredentials stored: salt, iterations and SaltedPassword. From those the server
derives StoredKey and ServerKey, verifies the client proof and answers with the server signature. Failures follow
Kafka: most are `SaslFailure` without a public message (the client sees Kafka's generic text), a mismatched
authorization id is public. `tokenauth=true` in the client-first extensions marks a delegation-token login.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Callable

from kbroker.security.errors import SaslFailure

HASHES = {"SCRAM-SHA-256": hashlib.sha256, "SCRAM-SHA-512": hashlib.sha512}
MECHANISM_IDS = {1: "SCRAM-SHA-256", 2: "SCRAM-SHA-512"}
MIN_ITERATIONS = 4096

# RFC 5802 section 7: gs2-header "n," or "y," (no channel binding is offered), optional a=authzid; then
# client-first-message-bare: n=saslname,r=nonce[,extensions]
_SASLNAME = r"(?:[\x21-\x2b\x2d-\x3c\x3e-\x7e\x80-\U0010ffff]|=2C|=3D)+"
_CLIENT_FIRST = re.compile(
    rf"^(?P<gs2>(?P<cbflag>[ny]),(?:a=(?P<authzid>{_SASLNAME}))?,)"
    rf"(?P<bare>n=(?P<saslname>{_SASLNAME}),r=(?P<nonce>[\x21-\x2b\x2d-\x7e]+)(?P<ext>(?:,[A-Za-z][^,]*)*))$")
_CLIENT_FINAL = re.compile(
    r"^(?P<without_proof>c=(?P<channel>[A-Za-z0-9+/=]+),r=(?P<nonce>[\x21-\x2b\x2d-\x7e]+)(?:,[A-Za-z][^,]*)*)"
    r",p=(?P<proof>[A-Za-z0-9+/=]+)$")


@dataclass(frozen=True)
class ScramCredential:
    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes

    @classmethod
    def from_salted_password(cls, mechanism: str, salt: bytes, iterations: int,
                             salted_password: bytes) -> "ScramCredential":
        h = HASHES[mechanism]
        client_key = hmac.new(salted_password, b"Client Key", h).digest()
        return cls(salt, iterations, h(client_key).digest(), hmac.new(salted_password, b"Server Key", h).digest())

    @classmethod
    def from_password(cls, mechanism: str, password: str, salt: bytes, iterations: int) -> "ScramCredential":
        """Hi(Normalize(password), salt, i); SASLprep is the identity for the ASCII passwords tests use."""
        name = HASHES[mechanism]().name
        salted = hashlib.pbkdf2_hmac(name, password.encode(), salt, iterations)
        return cls.from_salted_password(mechanism, salt, iterations, salted)


CredentialLookup = Callable[[str, str], ScramCredential | None]
"""(mechanism, username) -> the user's credential, or None for an unknown user."""
TokenLookup = Callable[[str, str], "tuple[ScramCredential, str, int] | None"]
"""(mechanism, token id) -> (credential from the token's HMAC, owner principal name, expiry ms), or None."""


def sasl_name_to_user(saslname: str) -> str:
    """RFC 5802's saslname escaping: '=2C' is ',', '=3D' is '='; any other '=' is invalid."""
    if re.search(r"=(?!2C|3D)", saslname):
        raise SaslFailure(f"Invalid username: {saslname}")
    return saslname.replace("=2C", ",").replace("=3D", "=")


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, base64.binascii.Error):
        raise SaslFailure("Authentication failed: Invalid client final message") from None


class ScramServer:
    def __init__(self, mechanism: str, credentials: CredentialLookup, tokens: TokenLookup | None = None,
                 nonce: Callable[[], str] | None = None) -> None:
        if mechanism not in HASHES:
            raise ValueError(f"unknown SCRAM mechanism {mechanism}")
        self.mechanism = mechanism
        self._hash = HASHES[mechanism]
        self._credentials = credentials
        self._tokens = tokens
        self._nonce = nonce or (lambda: secrets.token_urlsafe(24))
        self._state = "first"
        self._gs2 = ""
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce_full = ""
        self._client_nonce = ""
        self._credential: ScramCredential | None = None
        self.complete = False
        self.authorization_id: str | None = None
        self.lifetime_ms: int | None = None
        """Expiry (epoch ms) of the delegation token used, which bounds the session; None otherwise."""
        self.extensions: dict[str, str] = {}
        self.token_authenticated = False

    def evaluate(self, response: bytes) -> bytes:
        try:
            if self._state == "first":
                return self._first(response)
            if self._state == "final":
                return self._final(response)
            raise SaslFailure(f"Unexpected challenge in Sasl server state {self._state}")
        except SaslFailure:
            self._state = "failed"
            self._credential = None
            raise

    def _first(self, response: bytes) -> bytes:
        text = response.decode("utf-8", errors="replace")
        m = _CLIENT_FIRST.match(text)
        if not m:
            raise SaslFailure(f"Invalid SCRAM client first message format: {text}")
        ext = m.group("ext")
        self.extensions = dict(kv.split("=", 1) if "=" in kv else (kv, "") for kv in ext.split(",")[1:])
        username = sasl_name_to_user(m.group("saslname"))
        authzid = sasl_name_to_user(m.group("authzid")) if m.group("authzid") else ""
        if self.extensions.get("tokenauth", "").lower() == "true":
            found = self._tokens(self.mechanism, username) if self._tokens else None
            if found is None:
                raise SaslFailure(f"Token Authentication failed: Invalid tokenId : {username}")
            credential, owner, expiry_ms = found
            self.authorization_id, self.lifetime_ms, self.token_authenticated = owner, expiry_ms, True
        else:
            credential = self._credentials(self.mechanism, username)
            self.authorization_id = username
        if credential is None:
            raise SaslFailure("Authentication failed: Invalid user credentials")
        if authzid and authzid != username:
            raise SaslFailure("Authentication failed: Client requested an authorization id that is different from "
                              "username", public=True)
        if credential.iterations < MIN_ITERATIONS:
            raise SaslFailure(f"Iterations {credential.iterations} is less than the minimum {MIN_ITERATIONS} for "
                              f"{self.mechanism}")
        self._credential = credential
        self._gs2 = m.group("gs2")
        self._client_first_bare = m.group("bare")
        self._client_nonce = m.group("nonce")
        self._nonce_full = self._client_nonce + self._nonce()
        self._server_first = (f"r={self._nonce_full},s={base64.b64encode(credential.salt).decode()},"
                              f"i={credential.iterations}")
        self._state = "final"
        return self._server_first.encode()

    def _final(self, response: bytes) -> bytes:
        text = response.decode("utf-8", errors="replace")
        m = _CLIENT_FINAL.match(text)
        if not m:
            raise SaslFailure(f"Invalid SCRAM client final message format: {text}")
        if m.group("nonce") not in (self._nonce_full, self._client_nonce + self._nonce_full):
            # the second form is librdkafka before 2.6.1 (client nonce sent twice, librdkafka#4895), which
            # Kafka 3.8.1-3.9 accepted and kcat builds still use; it still carries the server's nonce
            raise SaslFailure("Invalid client nonce in the final client message.")
        if _b64decode(m.group("channel")) != self._gs2.encode():
            raise SaslFailure("Invalid channel binding in the final client message.")
        proof = _b64decode(m.group("proof"))
        credential = self._credential
        assert credential is not None
        auth_message = f"{self._client_first_bare},{self._server_first},{m.group('without_proof')}".encode()
        client_signature = hmac.new(credential.stored_key, auth_message, self._hash).digest()
        if len(proof) != len(client_signature):
            raise SaslFailure("Invalid client credentials")
        client_key = bytes(a ^ b for a, b in zip(proof, client_signature))
        if not hmac.compare_digest(self._hash(client_key).digest(), credential.stored_key):
            raise SaslFailure("Invalid client credentials")
        server_signature = hmac.new(credential.server_key, auth_message, self._hash).digest()
        self._credential = None
        self._state = "complete"
        self.complete = True
        return f"v={base64.b64encode(server_signature).decode()}".encode()
