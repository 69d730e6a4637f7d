"""`kbroker serve` flags of the CI features: JSON logs, the metrics and control listeners."""
from __future__ import annotations

import json
import socket
import urllib.request

import pytest

from kbroker.cli import parser
from kbroker.testing import SubprocessBroker


def test_json_logs_and_http_listeners(tmp_path) -> None:
    pytest.importorskip("prometheus_client")
    b = SubprocessBroker(None, "--log-format", "json", "--log-level", "debug", control=True, metrics=True).start()
    try:
        assert b.control_url and b.metrics_url
        auth = {"Authorization": f"Bearer {b.control_token}"}
        with urllib.request.urlopen(urllib.request.Request(b.control_url + "/health", headers=auth),
                                    timeout=10) as resp:
            assert json.loads(resp.read())["bootstrap"] == b.bootstrap
        with urllib.request.urlopen(b.metrics_url, timeout=10) as resp:
            assert resp.headers["Content-Type"].startswith("text/plain")
            assert b"kbroker_connections_active" in resp.read()
        with urllib.request.urlopen(urllib.request.Request(
                b.control_url + "/faults", method="POST", headers=auth,
                data=json.dumps({"kind": "delay", "api": "Metadata", "delay_ms": 5}).encode()), timeout=10) as resp:
            assert resp.status == 201
    finally:
        assert b.stop() == 0
    logs = [line for line in b.output if line.startswith("{")]
    assert logs, b.output
    records = [json.loads(line) for line in logs]
    assert all({"ts", "level", "logger", "message"} <= set(r) for r in records)
    assert any("fault armed" in r["message"] for r in records)
    assert any("shutting down" in r["message"] for r in records)


def test_flags_parse() -> None:
    args = parser().parse_args(["serve", "--metrics-listen", "0.0.0.0:9404", "--control-listen", "127.0.0.1:0",
                                "--log-format", "json"])
    assert args.metrics_listen == ("0.0.0.0", 9404)
    assert args.control_listen == ("127.0.0.1", 0)
    assert args.log_format == "json"
    with pytest.raises(SystemExit):
        parser().parse_args(["serve", "--log-format", "xml"])


def test_one_address_serves_both() -> None:
    pytest.importorskip("prometheus_client")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    b = SubprocessBroker(None, "--metrics-listen", f"127.0.0.1:{port}", "--control-listen", f"127.0.0.1:{port}")
    b.start()
    try:
        assert b.metrics_url == f"http://127.0.0.1:{port}/metrics"
        assert b.control_url == f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(b.metrics_url, timeout=10) as resp:
            assert b"kbroker_build_info" in resp.read()
        assert b.control_token  # printed by the broker, which was given none
        with urllib.request.urlopen(urllib.request.Request(
                b.control_url + "/faults", headers={"Authorization": f"Bearer {b.control_token}"}), timeout=10) as resp:
            assert json.loads(resp.read()) == []
    finally:
        b.stop()
