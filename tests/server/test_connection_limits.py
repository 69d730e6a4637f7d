"""Connections: running out of file descriptors does not kill the broker, and Kafka's max.connections,
max.connections.per.ip and max.connections.per.ip.overrides are enforced (issue 11 item 1)."""
from __future__ import annotations

import socket
import stat
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from kbroker.testing import SubprocessBroker
from kbroker.testing.client import WireClient
from tests.helpers import wait_until

API_VERSIONS = 18
FD_LIMIT = 64  # the broker's own descriptors (Python, the loop, its listeners) take about 20 of these
EXTRA = 100  # idle connections beyond what the broker can hold


def _api_versions(c: WireClient) -> int:
    return c.request(API_VERSIONS, 3, {"client_software_name": "t", "client_software_version": "1"})["error_code"]


def _answered(bootstrap: str, timeout: float = 10.0) -> bool:
    with WireClient(bootstrap, timeout=timeout) as c:
        return _api_versions(c) == 0


def _served_within(c: WireClient, timeout: float) -> bool:
    """Whether the broker answers an ApiVersions on c within the timeout (False: not read, not answered)."""
    c.sock.settimeout(timeout)
    try:
        return _api_versions(c) == 0
    except (socket.timeout, TimeoutError):
        return False


def _limited_python(tmp_path: Path, nofile: int) -> str:
    """A python that starts under `ulimit -n nofile` (the broker's subprocess inherits it)."""
    script = tmp_path / "python-limited"
    script.write_text(f"#!/bin/sh\nulimit -n {nofile} || exit 99\nexec {sys.executable} \"$@\"\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_running_out_of_descriptors_does_not_kill_the_broker(tmp_path: Path) -> None:
    b = SubprocessBroker(None, python=_limited_python(tmp_path, FD_LIMIT)).start()
    first = WireClient(b.bootstrap, timeout=10)
    idle: list[socket.socket] = []
    try:
        assert _api_versions(first) == 0
        for _ in range(FD_LIMIT + EXTRA):  # connect() completes through the backlog even when accept() fails
            idle.append(socket.create_connection(("127.0.0.1", b.port), timeout=10))
        wait_until(lambda: any("cannot accept connections" in line for line in b.output), 15,
                   what="the broker to run out of descriptors")
        assert b.alive(), "".join(b.output[-30:])
        assert _api_versions(first) == 0, "an open connection is still served"
        for s in idle:
            s.close()
        idle.clear()
        wait_until(lambda: _answered(b.bootstrap), 30, step=0.2, what="new connections to be served again")
        assert b.alive()
        warned = [line for line in b.output if "cannot accept connections" in line]
        assert 1 <= len(warned) <= 3, warned  # once per episode, not once per failed accept
    finally:
        for s in idle:
            s.close()
        first.close()
        rc = b.stop()
    assert rc == 0, "".join(b.output[-30:])


@pytest.fixture(scope="module")
def per_ip_broker() -> Iterator[SubprocessBroker]:
    b = SubprocessBroker(None, config={"max.connections.per.ip": 3}).start()
    yield b
    b.stop()


def test_max_connections_per_ip(per_ip_broker: SubprocessBroker) -> None:
    clients = [WireClient(per_ip_broker.bootstrap, timeout=10) for _ in range(3)]
    try:
        assert all(_api_versions(c) == 0 for c in clients)
        with WireClient(per_ip_broker.bootstrap, timeout=10) as fourth:
            with pytest.raises((ConnectionError, OSError)):
                _api_versions(fourth)
        clients.pop().close()
        wait_until(lambda: _answered(per_ip_broker.bootstrap), 10, step=0.1, what="room for one more connection")
    finally:
        for c in clients:
            c.close()


def test_max_connections_per_ip_overrides() -> None:
    b = SubprocessBroker(None, config={"max.connections.per.ip": 1,
                                       "max.connections.per.ip.overrides": "10.1.2.3:7,127.0.0.1:4"}).start()
    clients: list[WireClient] = []
    try:
        for _ in range(4):
            clients.append(WireClient(b.bootstrap, timeout=10))
            assert _api_versions(clients[-1]) == 0
        with WireClient(b.bootstrap, timeout=10) as fifth:
            with pytest.raises((ConnectionError, OSError)):
                _api_versions(fifth)
    finally:
        for c in clients:
            c.close()
        b.stop()


def test_max_connections_holds_new_connections_back_until_one_closes() -> None:
    b = SubprocessBroker(None, config={"max.connections": 3}).start()
    clients = [WireClient(b.bootstrap, timeout=10) for _ in range(3)]
    try:
        assert all(_api_versions(c) == 0 for c in clients)
        waiting = WireClient(b.bootstrap, timeout=10)  # connected through the backlog, not accepted
        clients.append(waiting)
        assert not _served_within(waiting, 1.5)
        clients.pop(0).close()
        # the request it sent meanwhile is answered once the broker accepts it
        waiting.sock.settimeout(10)
        frame = waiting.recv_frame()
        assert frame
    finally:
        for c in clients:
            c.close()
        b.stop()


def test_a_dynamic_per_ip_limit_applies_to_the_next_connection() -> None:
    b = SubprocessBroker(None).start()
    clients: list[WireClient] = []
    try:
        admin = WireClient(b.bootstrap, timeout=10)
        clients.append(admin)
        # the cluster-wide dynamic default (resource ""), as kafka-configs --entity-default sets it
        resp = admin.request(44, 1, {"validate_only": False, "resources": [
            {"resource_type": 4, "resource_name": "", "configs": [
                {"name": "max.connections.per.ip", "config_operation": 0, "value": "2"}]}]})
        assert resp["responses"][0]["error_code"] == 0, resp
        second = WireClient(b.bootstrap, timeout=10)
        clients.append(second)
        assert _api_versions(second) == 0
        with WireClient(b.bootstrap, timeout=10) as third:
            with pytest.raises((ConnectionError, OSError)):
                _api_versions(third)
    finally:
        for c in clients:
            c.close()
        b.stop()



def test_running_out_of_descriptors_on_the_control_endpoint_does_not_kill_the_broker(tmp_path: Path) -> None:
    b = SubprocessBroker(None, control=True, python=_limited_python(tmp_path, FD_LIMIT)).start()
    assert b.control_url
    control_port = int(b.control_url.rsplit(":", 1)[1])
    first = WireClient(b.bootstrap, timeout=10)
    idle: list[socket.socket] = []
    try:
        assert _api_versions(first) == 0
        for _ in range(FD_LIMIT + EXTRA):
            idle.append(socket.create_connection(("127.0.0.1", control_port), timeout=10))
        time.sleep(2)  # the endpoint accepts what it can, then runs out of descriptors (it died of that before)
        assert b.alive(), "".join(b.output[-30:])
        for s in idle:
            s.close()
        idle.clear()
        assert b.alive(), "".join(b.output[-30:])
        assert _api_versions(first) == 0
        wait_until(lambda: _answered(b.bootstrap), 30, step=0.2, what="new connections to be served again")
        assert b.faults().list() == []
    finally:
        for s in idle:
            s.close()
        first.close()
        rc = b.stop()
    assert rc == 0, "".join(b.output[-30:])


def test_a_flood_of_refusals_does_not_hide_other_connection_messages() -> None:
    """The listener limits its log lines per kind: refusing many connections (max.connections.per.ip) uses up the
    refusal lines only, and a different event right after (a frame size out of bounds) is still logged."""
    b = SubprocessBroker(None, config={"max.connections.per.ip": 2}).start()
    try:
        with WireClient(b.bootstrap) as held, WireClient(b.bootstrap) as bad:
            assert _api_versions(held) == 0 and _api_versions(bad) == 0  # both admitted: the limit is reached
            for _ in range(30):  # each refused
                with socket.create_connection(("127.0.0.1", b.port), timeout=10) as extra:
                    extra.settimeout(10)
                    try:
                        extra.recv(1)
                    except ConnectionResetError:
                        pass
            wait_until(lambda: sum("refusing a connection" in line for line in b.output) >= 10, 10,
                       what="the refusals to be logged")
            bad.sock.sendall(b"\x7f\xff\xff\xff")  # a frame size past socket.request.max.bytes
            wait_until(lambda: any("out of bounds" in line for line in b.output), 10,
                       what="the out-of-bounds frame to be logged")
    finally:
        b.stop()
