"""The control endpoint answers only whoever holds its token, never a browser, and binds loopback by default
(issue 11 item 10)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Iterator

import pytest

from kbroker.cli import parser
from kbroker.testing import SubprocessBroker


@pytest.fixture(scope="module")
def controlled() -> Iterator[SubprocessBroker]:
    b = SubprocessBroker(None, control=True).start()
    yield b
    b.stop()


def _call(b: SubprocessBroker, method: str, path: str, body: Any = None, headers: dict | None = None,
          content_type: str = "application/json") -> tuple[int, Any]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(b.control_url + path, data=data, method=method,  # type: ignore[operator]
                                 headers={"Content-Type": content_type, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _auth(b: SubprocessBroker) -> dict:
    return {"Authorization": f"Bearer {b.control_token}"}


FAULT = {"kind": "error", "api": "Produce", "error": "NOT_LEADER_OR_FOLLOWER", "count": 1}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}])
def test_requests_without_the_token_are_refused(controlled: SubprocessBroker, headers: dict) -> None:
    for method, path, body in (("POST", "/faults", FAULT), ("GET", "/faults", None), ("DELETE", "/faults", None),
                               ("GET", "/health", None), ("POST", "/groups/g/expire", None)):
        status, answer = _call(controlled, method, path, body, headers)
        assert status == 401, (method, path, status, answer)
    assert _call(controlled, "GET", "/faults", headers=_auth(controlled)) == (200, [])


def test_a_cross_origin_post_cannot_arm_a_fault(controlled: SubprocessBroker) -> None:
    # what a web page's fetch() sends: text/plain, an Origin header; even holding the token it is refused
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null", **_auth(controlled)}):
        status, _ = _call(controlled, "POST", "/faults", json.dumps(FAULT).encode(), headers, "text/plain")
        assert status == 403
    assert _call(controlled, "GET", "/faults", headers=_auth(controlled)) == (200, [])
    status, fault = _call(controlled, "POST", "/faults", FAULT, _auth(controlled))
    assert status == 201
    assert _call(controlled, "DELETE", f"/faults/{fault['id']}", headers=_auth(controlled))[0] == 200


def test_bare_port_binds_loopback() -> None:
    assert parser().parse_args(["serve", "--control-listen", ":0"]).control_listen == ("127.0.0.1", 0)
    b = SubprocessBroker(None, "--control-listen", ":0").start()
    try:
        assert b.control_url and b.control_url.startswith("http://127.0.0.1:")
        assert b.control_token, "a broker given no token prints the one it made"
        assert _call(b, "GET", "/health", headers=_auth(b))[1]["status"] == "ok"
        assert _call(b, "GET", "/health")[0] == 401
    finally:
        b.stop()


def test_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    args = parser().parse_args(["serve"])
    assert args.control_token is None
    monkeypatch.setenv("KBROKER_CONTROL_TOKEN", "s3cret")
    assert parser().parse_args(["serve"]).control_token == "s3cret"
    assert parser().parse_args(["serve", "--control-token", "other"]).control_token == "other"
