"""Client strings cannot forge log lines, and per-connection noise is rate-limited (issue 11 item 11)."""
from __future__ import annotations

import socket
import struct

from kbroker.testing import SubprocessBroker
from kbroker.testing.client import WireClient
from tests.helpers import wait_until

EVIL = "g\x1b[2J\nFORGED INFO kbroker: all good\u202e"
JOIN_GROUP = 11


def _join(c: WireClient, group: str, member_id: str = "") -> dict:
    return c.request(JOIN_GROUP, 5, {"group_id": group, "session_timeout_ms": 10000, "rebalance_timeout_ms": 10000,
                                     "member_id": member_id, "group_instance_id": None, "protocol_type": "consumer",
                                     "protocols": [{"name": "range", "metadata": b""}]})


def test_client_strings_are_escaped_in_logs() -> None:
    b = SubprocessBroker(None).start()
    try:
        with WireClient(b.bootstrap, client_id="cli\x1b[31m\rent") as c:
            first = _join(c, EVIL)
            if first["error_code"] == 79:  # MEMBER_ID_REQUIRED: join again with the id it gave
                first = _join(c, EVIL, first["member_id"])
            assert first["error_code"] == 0, first
        wait_until(lambda: any("rebalance" in line for line in b.output), 10, what="the join to be logged")
    finally:
        b.stop()
    text = "".join(b.output)
    assert "\x1b" not in text and "\u202e" not in text and "\r" not in text
    assert not any(line.startswith("FORGED") for line in b.output), "a client forged a log line"
    assert "\\x1b[2J\\x0aFORGED" in text and "\\u202e" in text


def test_malformed_frames_do_not_flood_the_log() -> None:
    b = SubprocessBroker(None).start()
    try:
        for _ in range(200):
            with socket.create_connection(("127.0.0.1", b.port), timeout=10) as s:
                s.sendall(struct.pack(">i", 3) + b"abc")  # shorter than any request: closed at once
                s.settimeout(10)
                assert s.recv(1) == b""
        with WireClient(b.bootstrap) as c:  # still serving
            assert c.request(18, 3, {"client_software_name": "t", "client_software_version": "1"})["error_code"] == 0
    finally:
        b.stop()
    noisy = [line for line in b.output if "out of bounds" in line]
    assert 1 <= len(noisy) <= 20, f"{len(noisy)} lines for 200 malformed frames"
