"""The two ways a SASL exchange fails, as Kafka tells them apart."""
from __future__ import annotations


class SaslFailure(Exception):
    """Authentication failed. `public` messages reach the client verbatim (Kafka's SaslAuthenticationException);
    others are replaced by Kafka's generic text so nothing about the credentials leaks (Kafka's SaslException)."""

    def __init__(self, message: str, *, public: bool = False) -> None:
        super().__init__(message)
        self.public = public

    def client_message(self, mechanism: str, reauth: bool = False) -> str:
        if self.public:
            return str(self)
        what = "re-authentication" if reauth else "authentication"
        return f"Authentication failed during {what} due to invalid credentials with SASL mechanism {mechanism}"
