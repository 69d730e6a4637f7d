"""A small HTTP endpoint on the broker's own event loop: fault injection for tests in any language, and the
Prometheus scrape (`--control-listen HOST:PORT`, `--metrics-listen HOST:PORT`; one address may serve both).

Routes (JSON in and out; errors are {"error": "..."} with 400 or 404):

    GET    /health                          {"status": "ok", "bootstrap": "host:port"}
    GET    /faults                          the armed faults
    POST   /faults                          arm one: {"kind": "error", "api": "Produce", "error": "NOT_LEADER_OR_FOLLOWER",
                                            "count": 2, "topic": "t", "partition": 0}; kinds: error, delay (delay_ms,
                                            before), drop (after_apply), throttle (throttle_ms); count null: until
                                            removed. Answers the fault with its "id".
    DELETE /faults                          disarm all
    DELETE /faults/{id}                     disarm one
    GET    /groups/{group}/members          member ids of a group
    POST   /groups/{group}/expire           expire every member, or {"member_id": "..."} for one
    GET    /metrics                         Prometheus text format (when metrics are enabled here)

Arming a fault is as good as breaking the broker, so the control routes are guarded three ways: the listener binds
to loopback unless told otherwise (`--control-listen :PORT` is 127.0.0.1), every request must carry the broker's
control token (`Authorization: Bearer TOKEN`; the token is printed at start, or set with `--control-token` /
KBROKER_CONTROL_TOKEN), and a request carrying an `Origin` header is refused, so that no web page a developer
opens can reach it (a browser sends Origin on every cross-origin POST). `/metrics` alone is exempt from the token,
as Prometheus scrapes it. Every read is bounded in size and time.
"""
from __future__ import annotations

import hmac
import json
import logging
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import anyio
from anyio.abc import SocketAttribute, SocketStream, TaskStatus
from anyio.streams.buffered import BufferedByteReceiveStream

if TYPE_CHECKING:
    from kbroker.broker import Broker

log = logging.getLogger(__name__)

MAX_HEAD = 16 * 1024
MAX_BODY = 1024 * 1024
READ_TIMEOUT = 10.0
_REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 413: "Payload Too Large", 500: "Internal Server Error"}


def new_token() -> str:
    """A control token for a broker that was given none."""
    return secrets.token_urlsafe(24)


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ControlServer:
    """One HTTP listener; `control` and `metrics` choose which routes it serves."""

    def __init__(self, broker: "Broker", host: str, port: int, *, control: bool, metrics: bool,
                 token: str | None = None) -> None:
        if control and not token:
            raise ValueError("the control endpoint needs a token")
        self.token = token
        self.broker = broker
        self.host = host
        self.port = port
        self.control = control
        self.metrics = metrics

    async def serve(self, *, task_status: TaskStatus = anyio.TASK_STATUS_IGNORED) -> None:
        listener = await anyio.create_tcp_listener(local_host=self.host, local_port=self.port)
        async with listener, anyio.create_task_group() as tg:
            self.port = listener.extra(SocketAttribute.local_address)[1]
            for one in listener.listeners:
                tg.start_soon(self._accept_loop, one, tg)
            task_status.started(self.port)

    async def _accept_loop(self, listener: Any, tg: Any) -> None:
        """Accept until cancelled; a failed accept (out of file descriptors) waits a moment and retries, where
        anyio's serve() would raise and take the broker down with it."""
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                log.debug("control endpoint: accept failed: %s", exc)
                await anyio.sleep(0.1)
                continue
            tg.start_soon(self._connection, stream)

    async def _connection(self, stream: SocketStream) -> None:
        async with stream:
            try:
                with anyio.fail_after(READ_TIMEOUT):
                    method, target, headers, body = await _read_request(stream)
                self._check_caller(target, headers)
                status, content_type, payload = await self._route(method, target, body)
            except HttpError as exc:
                status, content_type, payload = exc.status, "application/json", _json({"error": str(exc)})
            except TimeoutError:
                return
            except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError, OSError):
                return
            except Exception as exc:  # a control bug must not take the broker down
                log.exception("control request failed")
                status, content_type, payload = 500, "application/json", _json({"error": str(exc)})
            head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\nContent-Type: {content_type}\r\n"
                    f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n").encode()
            try:
                await stream.send(head + payload)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                pass

    def _check_caller(self, target: str, headers: dict[str, str]) -> None:
        """On a control listener: no browser (Origin), and the token on everything but the Prometheus scrape."""
        if not self.control:
            return
        if "origin" in headers:
            raise HttpError(403, "requests with an Origin header are refused (no browser may reach this endpoint)")
        if urlsplit(target).path.rstrip("/") == "/metrics" and self.metrics:
            return
        scheme, _, given = headers.get("authorization", "").partition(" ")
        assert self.token is not None
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.token.encode()):
            raise HttpError(401, "missing or wrong control token (Authorization: Bearer TOKEN, printed at start)")

    async def _route(self, method: str, target: str, body: bytes) -> tuple[int, str, bytes]:
        path = [unquote(p) for p in urlsplit(target).path.strip("/").split("/") if p]
        if path == ["metrics"] and self.metrics:
            if method != "GET":
                raise HttpError(405, "GET only")
            metrics = getattr(self.broker, "metrics", None)
            if metrics is None:
                raise HttpError(404, "metrics are not enabled")
            return 200, metrics.content_type, metrics.render()
        if path == ["health"] or path == []:
            advertised = self.broker.advertised
            return 200, "application/json", _json({"status": "ok", "bootstrap": f"{advertised.host}:{advertised.port}",
                                                   "node_id": self.broker.node_id})
        if not self.control:
            raise HttpError(404, f"no route {target}")
        faults = self.broker.faults
        request = _parse_json(body)
        if path == ["faults"]:
            if method == "GET":
                return _ok(faults.list())
            if method == "DELETE":
                return _ok({"removed": faults.clear()})
            if method == "POST":
                if not isinstance(request, dict):
                    raise HttpError(400, "expected a JSON object")
                return _ok(_arm(faults, request).to_json(), 201)
            raise HttpError(405, f"{method} not allowed on /faults")
        if len(path) == 2 and path[0] == "faults":
            if method != "DELETE":
                raise HttpError(405, "DELETE only")
            try:
                fault_id = int(path[1])
            except ValueError:
                raise HttpError(400, f"bad fault id {path[1]!r}") from None
            if not faults.remove(fault_id):
                raise HttpError(404, f"no fault {fault_id}")
            return _ok({"removed": 1})
        if len(path) == 3 and path[0] == "groups":
            group_id = path[1]
            try:
                if path[2] == "members" and method == "GET":
                    return _ok({"group_id": group_id, "members": faults.members(group_id)})
                if path[2] == "expire" and method == "POST":
                    member_id = request.get("member_id") if isinstance(request, dict) else None
                    return _ok({"group_id": group_id, "expired": faults.expire_member(group_id, member_id)})
            except KeyError as exc:
                raise HttpError(404, exc.args[0] if exc.args else str(exc)) from None
            except (ValueError, RuntimeError, NotImplementedError) as exc:
                raise HttpError(400, str(exc)) from None
        raise HttpError(404, f"no route {method} {target}")


def _arm(faults: Any, request: dict) -> Any:
    known = {"kind", "api", "error", "count", "topic", "partition", "delay_ms", "throttle_ms", "before", "after_apply"}
    unknown = set(request) - known
    if unknown:
        raise HttpError(400, f"unknown field(s): {', '.join(sorted(unknown))}")
    kind = request.get("kind")
    if not kind or "api" not in request:
        raise HttpError(400, "a fault needs a kind and an api")
    before = bool(request.get("before", False))
    if kind == "drop" and "after_apply" in request:
        before = not bool(request["after_apply"])
    try:
        return faults.add(kind, request["api"], count=request.get("count", 1), error=request.get("error"),
                          topic=request.get("topic"), partition=request.get("partition"),
                          delay_ms=int(request.get("delay_ms") or 0), throttle_ms=int(request.get("throttle_ms") or 0),
                          before=before)
    except (ValueError, TypeError) as exc:
        raise HttpError(400, str(exc)) from None


def _ok(obj: Any, status: int = 200) -> tuple[int, str, bytes]:
    return status, "application/json", _json(obj)


def _json(obj: Any) -> bytes:
    return (json.dumps(obj, default=str) + "\n").encode()


def _parse_json(body: bytes) -> Any:
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError as exc:
        raise HttpError(400, f"bad JSON: {exc}") from None


async def _read_request(stream: SocketStream) -> tuple[str, str, dict[str, str], bytes]:
    reader = BufferedByteReceiveStream(stream)
    try:
        head = await reader.receive_until(b"\r\n\r\n", MAX_HEAD)
    except anyio.DelimiterNotFound:
        raise HttpError(413, "request head too large") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split()
    if len(parts) < 2:
        raise HttpError(400, "bad request line")
    method, target = parts[0].upper(), parts[1]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise HttpError(400, "bad Content-Length") from None
    if length < 0 or length > MAX_BODY:
        raise HttpError(413, "request body too large")
    body = await reader.receive_exactly(length) if length else b""
    return method, target, headers, body
