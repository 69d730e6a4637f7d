"""Small helpers the handlers share: error codes and messages from exceptions, topic/partition walks."""
from __future__ import annotations

from wire.errors import ErrorCode, KafkaError


def error_of(exc: BaseException) -> tuple[int, str | None]:
    if isinstance(exc, KafkaError):
        return int(exc.code), exc.message
    return int(ErrorCode.UNKNOWN_SERVER_ERROR), str(exc)
