"""How long kbroker.testing's brokers take to start (to accepting connections) and to stop: what a broker per test
costs. (tests/ci/test_plugin.py checks that they start and stop; the numbers are here, where load is no failure.)

Usage: python bench/start_up.py [in-process rounds] [subprocess rounds]   (prints medians and maxima in ms)
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kbroker.testing import InProcessBroker, SubprocessBroker  # noqa: E402


def report(label: str, seconds: list[float]) -> None:
    print(f"{label:28s} median {statistics.median(seconds) * 1000:8.1f} ms   max {max(seconds) * 1000:8.1f} ms")


def main() -> None:
    inprocess = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    subprocess = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    starts, stops = [], []
    for _ in range(inprocess):
        runner = InProcessBroker().start()
        starts.append(runner.start_seconds or 0.0)
        began = time.perf_counter()
        runner.stop()
        stops.append(time.perf_counter() - began)
    report(f"in-process start (x{inprocess})", starts)
    report(f"in-process stop (x{inprocess})", stops)
    sub = []
    for _ in range(subprocess):
        runner = SubprocessBroker(control=True).start()
        sub.append(runner.start_seconds or 0.0)
        runner.stop()
    report(f"subprocess start (x{subprocess})", sub)


if __name__ == "__main__":
    main()
