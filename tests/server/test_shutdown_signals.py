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


def test_no_default_action_between_the_first_signal_and_the_guard() -> None:
    """The hand-over from the signal receiver to ShutdownGuard leaves no moment with the default action (which
    kills): when the first signal has been taken, the guard's handler is already in place."""
    import os

    import anyio

    from kbroker.app import ShutdownGuard, _first_signal

    seen: dict[str, object] = {}

    async def main() -> None:
        with anyio.fail_after(10):
            await serve()

    async def serve() -> None:
        async with anyio.create_task_group() as tg:
            async def first() -> None:
                seen["signum"] = await _first_signal()
                seen["handler"] = signal.getsignal(signal.SIGTERM)  # nothing ran in between

            tg.start_soon(first)
            await anyio.sleep(0.05)  # the receiver is open
            os.kill(os.getpid(), signal.SIGTERM)

    try:
        anyio.run(main)
    finally:
        ShutdownGuard.uninstall()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    assert seen["signum"] == signal.SIGTERM
    assert seen["handler"] == ShutdownGuard._handle
