"""Memory under stalled requests: N connections each announce a large frame, push part of it and stall.
Prints the broker's RSS idle and at its peak, and how long until the read timeout closed every connection.

Usage: python bench/partial_requests.py [--connections 200] [--announce-mib 100] [--push-mib 5] [--seconds 20]
Everything on 127.0.0.1, bounded in time; the broker runs with its default limits (`--set key=value` to change).
"""
from __future__ import annotations

import argparse
import socket
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kbroker.testing import SubprocessBroker  # noqa: E402

MiB = 1 << 20


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--connections", type=int, default=200)
    p.add_argument("--announce-mib", type=int, default=100)
    p.add_argument("--push-mib", type=float, default=5)
    p.add_argument("--seconds", type=float, default=20, help="longest time spent pushing")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args()
    extra = [a for kv in args.set for a in ("--set", kv)]
    broker = SubprocessBroker(None, *extra).start()
    assert broker.proc is not None
    pid, push = broker.proc.pid, int(args.push_mib * MiB)
    idle = rss(pid)
    socks = []
    try:
        for _ in range(args.connections):
            s = socket.create_connection(("127.0.0.1", broker.port), timeout=10)
            s.setblocking(False)
            s.send(struct.pack(">i", args.announce_mib * MiB))
            socks.append(s)
        sent, chunk, peak = [0] * len(socks), b"\0" * (256 * 1024), idle
        began = time.monotonic()
        while time.monotonic() - began < args.seconds and min(sent) < push:
            progress = False
            for i, s in enumerate(socks):
                if sent[i] < push:
                    try:
                        sent[i] += s.send(chunk[: push - sent[i]])
                        progress = True
                    except BlockingIOError:
                        pass
            peak = max(peak, rss(pid))
            if not progress:
                time.sleep(0.01)
        pushed_for = time.monotonic() - began
        for _ in range(10):
            time.sleep(0.3)
            peak = max(peak, rss(pid))
        print(f"{len(socks)} connections pushed {sum(sent) / MiB:.0f} MiB in {pushed_for:.1f} s; "
              f"RSS idle {idle / MiB:.0f} MiB, peak {peak / MiB:.0f} MiB (+{(peak - idle) / MiB:.0f} MiB)")
        closed, waited = 0, time.monotonic()
        for s in socks:
            s.setblocking(True)
            s.settimeout(120)
            try:
                closed += s.recv(1) == b""
            except ConnectionResetError:
                closed += 1
            except socket.timeout:
                pass
        print(f"{closed}/{len(socks)} closed by the broker within {time.monotonic() - waited:.1f} s more")
    finally:
        for s in socks:
            s.close()
        broker.stop()


if __name__ == "__main__":
    main()
