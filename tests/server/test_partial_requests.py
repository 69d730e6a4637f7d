"""Partial requests cannot hold the broker's memory or connections (issue 11 item 4): idle connections close after
connections.max.idle.ms, a started frame must complete within kbroker.request.read.timeout.ms, and request bytes
being received are capped broker-wide by queued.max.request.bytes (reading pauses; nothing is allocated at the size
a frame announces)."""
from __future__ import annotations

import select
import socket
import struct
import threading
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


def _one_closed_by_peer(socks: list[socket.socket], timeout: float) -> bool:
    """True once the broker closes any of `socks` (none is ever answered: anything readable is the end)."""
    readable, _, _ = select.select(socks, [], [], timeout)
    for s in readable:
        try:
            if s.recv(65536) == b"":
                return True
        except ConnectionResetError:
            return True
    return False


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
        # the frame being read is closed by the read timeout (the others wait for the budget, unread)
        assert _one_closed_by_peer(socks, 20), "no stalled frame was closed by kbroker.request.read.timeout.ms"
        for s in socks:  # once their senders go, the broker serves everyone again
            s.close()
        with WireClient(b.bootstrap) as c:
            assert c.produce("t", 0, [(None, b"after", None, None)]) == 0
    finally:
        for s in socks:
            s.close()
        b.stop()


def test_large_frames_do_not_deadlock_on_the_budget() -> None:
    """Three 3 MiB frames against a 4 MiB budget, each half sent before any is completed: a frame takes its share of
    the budget in one step, so they are read one after another. Charged chunk by chunk, each held part of the budget
    while waiting for the rest, and none was ever answered."""
    b = SubprocessBroker(None, config={"socket.request.max.bytes": 4 * MiB, "queued.max.request.bytes": 4 * MiB,
                                       "kbroker.request.read.timeout.ms": 0}).start()
    big = [socket.create_connection(("127.0.0.1", b.port), timeout=20) for _ in range(3)]
    # an ApiVersions v0 header padded to 3 MiB: the broker answers it once it has read all of it
    header = struct.pack(">hhih", 18, 0, 1, 1) + b"x"
    body = header + b"\0" * (3 * MiB - len(header))
    frame = struct.pack(">i", len(body)) + body
    half = len(frame) // 2
    try:
        for s in big:
            s.sendall(frame[:half])
        time.sleep(0.5)  # not a timed assertion: lets the unfixed broker spread the budget over all three halves
        rest = [threading.Thread(target=s.sendall, args=(frame[half:],), daemon=True) for s in big]
        for t in rest:
            t.start()
        for s in big:
            s.settimeout(20)
            answer = s.recv(4)
            assert len(answer) == 4, "a large request was never answered"
        with RawClient(b.bootstrap, timeout=10) as small:
            assert small.request(18, 3, {"client_software_name": "t", "client_software_version": "1"})
    finally:
        for s in big:
            s.close()
        b.stop()
