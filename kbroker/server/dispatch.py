"""From a request frame to a response frame: header, version check, decode, handler, encode.

Anything wrong with the frame itself ends in `CloseConnection`. A handler's own failure is answered as Kafka
answers it, UNKNOWN_SERVER_ERROR in every entry of the response (kbroker.faults.error_answer), and the
connection stays open; only an API with nowhere to put an error code closes it. Kafka closes the connection for an unknown API key or an unsupported version of
any API but ApiVersions, which instead answers UNSUPPORTED_VERSION in v0 so that the client can retry lower.

Two optional hooks live on the broker object: `broker.faults` (kbroker.faults: injected errors, delays,
dropped connections, throttling) is consulted once the request is decoded, and `broker.metrics`
(kbroker.metrics) observes every answered request. Both cost one attribute check when unused.
"""
from __future__ import annotations

import logging
import struct
from io import BytesIO
import time
from dataclasses import dataclass
from typing import Any

from kbroker.faults import DropConnection, error_answer, run_with_faults
from kbroker.handlers import REGISTRY
from kbroker.logsafe import Throttled
from kbroker.server.context import CloseConnection, RequestContext
from wire.codec import (
    API_VERSIONS_KEY,
    DecodeError,
    RequestHeader,
    decode_request_header,
    request_codec,
    response_codec,
    response_header,
)
from wire.errors import ErrorCode

log = logging.getLogger(__name__)

_SIZE = struct.Struct(">i")


@dataclass
class _Outcome:
    """What serving one frame produced, for the metrics hook (filled as far as serving got)."""

    header: RequestHeader | None = None
    request: Any = None
    response: dict | None = None
    mute_seconds: float = 0.0


_failures_logged: set[tuple[str, type, str]] = set()
_repeats: dict[tuple[str, type, str], Throttled] = {}  # one per key of _failures_logged (so bounded as it is)


def _log_failure(api: str, version: int, exc: Exception) -> None:
    """A traceback the first time a handler fails in a given way; one line without it each time after."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb is not None else ""
    key = (api, type(exc), where)
    if key in _failures_logged:  # a client repeating the request would otherwise fill the log: a line a minute
        repeats = _repeats.get(key)
        if repeats is None:
            repeats = _repeats[key] = Throttled(log, burst=1, interval=60.0)
        repeats.log(logging.ERROR, "%s v%d failed again: %r (answered UNKNOWN_SERVER_ERROR)", api, version, exc)
        return
    if len(_failures_logged) < 1000:
        _failures_logged.add(key)
    log.error("%s v%d failed (answered UNKNOWN_SERVER_ERROR)", api, version, exc_info=exc)


def supported_api_versions() -> list[dict]:
    return [{"api_key": e.key, "min_version": e.min_version, "max_version": e.max_version} for e in REGISTRY.values()]


def _frame(api_key: int, version: int, correlation_id: int, body: dict) -> bytes:
    """Size, header and body written into one buffer: a Fetch answer's records are copied once, not three times."""
    buf = BytesIO()
    buf.write(b"\0\0\0\0")
    buf.write(response_header(api_key, version, correlation_id))
    response_codec(api_key, version).encode_into(body, buf)
    size = buf.tell() - 4
    buf.seek(0)
    buf.write(_SIZE.pack(size))
    return buf.getvalue()


async def serve_frame(frame: bytes, broker, client_host: str, connection_id: int, auth=None) -> tuple[bytes | None, float]:  # type: ignore[no-untyped-def]
    """The response frame (None: no answer) and how long to mute the connection after sending it (throttling)."""
    outcome = _Outcome()
    metrics = getattr(broker, "metrics", None)
    if metrics is None:
        response = await _serve(frame, broker, client_host, connection_id, outcome, auth)
        return response, outcome.mute_seconds
    started = time.perf_counter()
    response = None
    try:
        response = await _serve(frame, broker, client_host, connection_id, outcome, auth)
        return response, outcome.mute_seconds
    finally:
        header = outcome.header
        if header is not None:
            try:
                metrics.observe_request(header.api_key, header.api_version, time.perf_counter() - started,
                                        len(frame) + 4, len(response) if response is not None else 0,
                                        outcome.request, outcome.response)
            except Exception:  # metrics must never break serving
                log.exception("metrics failed")


async def _serve(frame: bytes, broker, client_host: str, connection_id: int, outcome: _Outcome, auth=None) -> bytes | None:  # type: ignore[no-untyped-def]
    try:
        header = decode_request_header(frame)
    except DecodeError as exc:
        raise CloseConnection(str(exc)) from exc
    entry = REGISTRY.get(header.api_key)
    if entry is None:
        raise CloseConnection(f"unknown API key {header.api_key}")
    if not entry.min_version <= header.api_version <= entry.max_version:
        if header.api_key == API_VERSIONS_KEY:
            # KIP-511: in v0, with only ApiVersions' own range, so that the client retries with a version it has
            body = {"error_code": ErrorCode.UNSUPPORTED_VERSION,
                    "api_keys": [v for v in supported_api_versions() if v["api_key"] == API_VERSIONS_KEY]}
            return _frame(API_VERSIONS_KEY, 0, header.correlation_id, body)
        raise CloseConnection(f"{entry.name} v{header.api_version} is not supported")
    try:
        request = request_codec(header.api_key, header.api_version).decode(frame, header.size)
    except DecodeError as exc:
        raise CloseConnection(str(exc)) from exc
    ctx = RequestContext(broker, header, client_host, connection_id, auth)
    outcome.header, outcome.request = header, request
    faults = getattr(broker, "faults", None)
    plan = faults.take(header.api_key, header.api_version, request) if faults is not None and faults.active else None
    try:
        if plan:
            response = await run_with_faults(plan, faults, entry.handle, ctx, request)
        else:
            response = await entry.handle(ctx, request)
    except DropConnection as exc:
        raise CloseConnection(str(exc)) from exc
    except CloseConnection:
        raise
    except Exception as exc:
        _log_failure(entry.name, header.api_version, exc)
        try:
            response = await error_answer(ctx, request, ErrorCode.UNKNOWN_SERVER_ERROR)
        except DropConnection as drop:
            raise CloseConnection(f"{entry.name} handler failed: {exc!r} ({drop})") from exc
    outcome.response = response
    if response is None:
        outcome.mute_seconds = ctx.unanswered_throttle_ms / 1000
        return None
    # KIP-219: a throttled answer (a quota, or an injected throttle) goes out at once and its connection is then
    # muted for the throttle time, so that a client ignoring throttle_time_ms is slowed all the same
    throttle_ms = response.get("throttle_time_ms") or 0
    if throttle_ms > 0:
        outcome.mute_seconds = throttle_ms / 1000
    try:
        return _frame(header.api_key, header.api_version, header.correlation_id, response)
    except Exception as exc:
        log.exception("%s v%d response could not be encoded", entry.name, header.api_version)
        raise CloseConnection(f"{entry.name} response failed: {exc}") from exc
