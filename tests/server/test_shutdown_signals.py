"""A second SIGTERM/SIGINT during a clean shutdown does not cut it short (issue 11 item 9); a third may."""
from __future__ import annotations

import signal
import time
from pathlib import Path

from kbroker.testing.brokers import SubprocessBroker
from kbroker.testing.client import WireClient
from tests.helpers import wait_until

PARTITIONS = 300  # enough logs that closing them takes a while: the second signal lands inside the shutdown


def _start_with_data(data: Path) -> SubprocessBroker:
    b = SubprocessBroker(data).start()
    with WireClient(b.bootstrap, timeout=30) as c:
        c.create_topic("many", PARTITIONS)
        for p in range(PARTITIONS):
            c.produce("many", p, [(None, b"v%d" % p, None, None)])
    return b


def test_second_sigterm_during_shutdown_does_not_abort_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    b = _start_with_data(data)
    assert b.proc is not None
    b.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: any("shutting down" in line for line in b.output), 10, step=0.001, what="the shutdown to begin")
    b.proc.send_signal(signal.SIGTERM)  # what `make run` + Ctrl-C does
    rc = b.proc.wait(30)
    assert rc == 0, "".join(b.output[-20:])
    again = SubprocessBroker(data).start()
    try:
        with WireClient(again.bootstrap, timeout=30) as c:
            assert [m.value for m in c.read_all("many", PARTITIONS - 1)] == [b"v%d" % (PARTITIONS - 1)]
    finally:
        again.stop()
    unclean = [line for line in again.output if "unclean shutdown" in line]
    assert not unclean, unclean[:3]


def test_third_signal_aborts(tmp_path: Path) -> None:
    b = _start_with_data(tmp_path / "data")
    assert b.proc is not None
    b.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: any("shutting down" in line for line in b.output), 10, step=0.001, what="the shutdown to begin")
    b.proc.send_signal(signal.SIGTERM)
    b.proc.send_signal(signal.SIGTERM)
    rc = b.proc.wait(30)
    # either it was killed by the third signal, or the shutdown finished first: never a hang
    assert rc in (0, -signal.SIGTERM), rc
