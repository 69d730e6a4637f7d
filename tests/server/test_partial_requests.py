"""Partial requests cannot hold the broker's memory or connections (issue 11 item 4): idle connections close after
connections.max.idle.ms, a started frame must complete within kbroker.request.read.timeout.ms, and request bytes
being received are capped broker-wide by queued.max.request.bytes (reading pauses; nothing is allocated at the size
a frame announces)."""
from __future__ import annotations

import socket
import struct
import time
from pathlib import Path

import pytest

from kbroker.testing import SubprocessBroker
from kbroker.testing.client import WireClient
from tests.helpers import wait_until
from tests.rawclient import RawClient

MiB = 1 << 20


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_idle_connections_are_closed() -> None:
    b = SubprocessBroker(None, config={"connections.max.idle.ms": 300}).start()
    try:
        with RawClient(b.bootstrap) as idle, RawClient(b.bootstrap) as busy:
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:  # a request every 100 ms is never idle
                assert busy.request(18, 3, {"client_software_name": "t", "client_software_version": "1"})
                time.sleep(0.1)
            assert idle.is_closed_by_peer(timeout=10)
            assert busy.request(18, 3, {"client_software_name": "t", "client_software_version": "1"})
    finally:
        b.stop()


def test_a_started_frame_must_arrive_within_the_read_timeout() -> None:
    b = SubprocessBroker(None, config={"kbroker.request.read.timeout.ms": 500}).start()
    try:
        with RawClient(b.bootstrap) as slow:
            slow.sock.sendall(struct.pack(">i", 1000) + b"\0" * 10)  # 10 of 1000 bytes, then nothing
            assert slow.is_closed_by_peer(timeout=10)
        with RawClient(b.bootstrap) as fine:  # the broker carries on
            assert fine.request(18, 3, {"client_software_name": "t", "client_software_version": "1"})
    finally:
        b.stop()


CONNECTIONS = 40
ANNOUNCED = 16 * MiB  # each frame claims this much (socket.request.max.bytes allows it)
PUSHED = 4 * MiB  # and sends this much of it: 160 MiB in all, ten times the budget
BUDGET = 16 * MiB


def test_partial_frames_cannot_grow_memory_past_the_budget() -> None:
    b = SubprocessBroker(None, config={"socket.request.max.bytes": ANNOUNCED, "queued.max.request.bytes": BUDGET,
                                       "kbroker.request.read.timeout.ms": 6000}).start()
    assert b.proc is not None
    socks: list[socket.socket] = []
    try:
        with WireClient(b.bootstrap) as warm:  # a served request first, so that the baseline is a working broker
            warm.create_topic("t", 1)
        before = _rss(b.proc.pid)
        for _ in range(CONNECTIONS):
            s = socket.create_connection(("127.0.0.1", b.port), timeout=10)
            s.setblocking(False)
            s.send(struct.pack(">i", ANNOUNCED))
            socks.append(s)
        sent = [0] * CONNECTIONS
        chunk = b"\0" * (256 * 1024)
        deadline = time.monotonic() + 8  # push as much as the broker takes, for a bounded time
        while time.monotonic() < deadline and min(sent) < PUSHED:
            progress = False
            for i, s in enumerate(socks):
                if sent[i] >= PUSHED:
                    continue
                try:
                    n = s.send(chunk[: PUSHED - sent[i]])
                except BlockingIOError:
                    continue
                sent[i] += n
                progress = progress or n > 0
            if not progress:
                time.sleep(0.01)
        time.sleep(0.5)  # let the broker read what it will
        grown = _rss(b.proc.pid) - before
        assert grown < BUDGET + 32 * MiB, f"RSS grew {grown / MiB:.0f} MiB with {sum(sent) / MiB:.0f} MiB pushed"
        # the stalled frames are closed by the read timeout, and the broker serves everyone again
        for s in socks:
            s.setblocking(True)
            s.settimeout(20)
            try:
                assert s.recv(1) == b""
            except ConnectionResetError:
                pass
        with WireClient(b.bootstrap) as c:
            assert c.produce("t", 0, [(None, b"after", None, None)]) == 0
    finally:
        for s in socks:
            s.close()
        b.stop()
