"""Profile kbroker under the request-rate load of bench/compare.py with py-spy; print where the time goes.

    python bench/profile_rate.py [--seconds 10] [--producers 3] [--native]

Samples the broker subprocess (py-spy record, collapsed stacks) while the producers run, then prints the share
of samples per function, self and inclusive. Needs py-spy (pip install py-spy) and permission to ptrace.
"""
from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.compare import Broker, kbroker_command, request_rate  # noqa: E402


def summarise(collapsed: Path, top: int) -> str:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        count = int(n)
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 1)[-1] + ")" if " (" in f
                  else f for f in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for f in set(frames):
            inclusive[f] += count
    lines = [f"{total} samples", "", "self %   function"]
    lines += [f"{100 * n / total:6.1f}   {f}" for f, n in own.most_common(top)]
    lines += ["", "incl %   function"]
    lines += [f"{100 * n / total:6.1f}   {f}" for f, n in inclusive.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--producers", type=int, default=3)
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--native", action="store_true", help="include native frames")
    ap.add_argument("--checkout", type=Path, help="profile the kbroker of another checkout (default: this one)")
    args = ap.parse_args()
    b = Broker("kbroker", kbroker_command)
    if args.checkout:
        b.cwd = args.checkout
        os.environ["PYTHONPATH"] = str(args.checkout)
    b.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "stacks.txt"
            cmd = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(b.pid), "--format", "raw",
                   "--rate", "500", "--duration", str(args.seconds), "--output", str(out), "--nonblocking"]
            if args.native:
                cmd.append("--native")
            spy = threading.Thread(target=subprocess.run, args=(cmd,), kwargs={"capture_output": True})
            result: dict = {}
            load = threading.Thread(target=lambda: result.update(request_rate(b, args.producers, args.seconds + 2)))
            load.start()
            spy.start()
            spy.join()
            load.join()
            print(f"request rate while sampled: {result.get('rate', 0):,.0f} msg/s, broker CPU "
                  f"{result.get('cpu_share', 0) * 100:.0f} %")
            print(summarise(out, args.top))
    finally:
        b.stop()


if __name__ == "__main__":
    main()
