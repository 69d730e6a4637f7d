"""This checkout against another (e.g. an older commit from `git archive`), started alternately so that both see
the same machine load: time to ready (spawn until ApiVersions is answered), the CPU the process used until then,
idle RSS, and under the request-rate load of bench/compare.py the rate and the broker's CPU per request (the
figure least sensitive to how loaded the machine is).

    python bench/ab.py [--against /tmp/base] [--rounds 3] [--seconds 8] [--producers 3] [--no-rate]
    python bench/ab.py --prototype-listener   # against this checkout with bench/prototypes/listener_protocol.py
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.compare import Broker, compile_bytecode, kbroker_command, request_rate  # noqa: E402
from bench.produce_consume import cpu_seconds, rss_mib  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--against", type=Path, action="append", default=[],
                    help="another kbroker checkout to compare with (repeatable)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--producers", type=int, default=3)
    ap.add_argument("--no-rate", action="store_true", help="start-up only")
    ap.add_argument("--metrics", action="store_true", help="add this checkout with --metrics-listen (metrics on)")
    ap.add_argument("--prototype-listener", action="store_true",
                    help="compare with a copy of this checkout (HEAD) whose listener is bench/prototypes/listener_protocol.py")
    args = ap.parse_args()
    proto = None
    if args.prototype_listener:
        proto = Path(tempfile.mkdtemp(prefix="kbroker-proto-"))
        archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(proto)], input=archive, check=True)
        shutil.copy(ROOT / "bench" / "prototypes" / "listener_protocol.py", proto / "kbroker" / "server" / "listener.py")
        args.against.append(proto)
    variants = {"this checkout, asyncio": (ROOT, {"KBROKER_UVLOOP": "0"}),
                "this checkout, uvloop if installed": (ROOT, {})}
    if args.metrics:
        variants["this checkout, asyncio, metrics on"] = (ROOT, {"KBROKER_UVLOOP": "0",
                                                                 "KBROKER_ARGS": "--metrics-listen 127.0.0.1:0"})
    others: dict[str, tuple[Path, dict[str, str]]] = {}
    for other in args.against:
        others[f"{other}, asyncio"] = (other, {"KBROKER_UVLOOP": "0"})
        if len(args.against) == 1:
            others[f"{other}, uvloop if installed"] = (other, {})
    variants = {**others, **variants}
    try:
        run(args, variants)
    finally:
        if proto is not None:
            shutil.rmtree(proto, ignore_errors=True)


def run(args: argparse.Namespace, variants: dict[str, tuple[Path, dict[str, str]]]) -> None:
    for root, _ in variants.values():
        compile_bytecode(root)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, (root, env) in variants.items():
            saved = dict(os.environ)
            os.environ.update(env, PYTHONPATH=str(root))
            b = Broker(name, kbroker_command, cwd=root)
            try:
                r = {"ready": b.start(), "ready_cpu": cpu_seconds(b.pid) * 1000}
                time.sleep(0.3)
                r["rss"] = rss_mib(b.pid)
                if not args.no_rate:
                    cpu0 = cpu_seconds(b.pid)
                    rate = request_rate(b, args.producers, args.seconds)
                    r["rate"] = rate["rate"]
                    r["us_per_req"] = (cpu_seconds(b.pid) - cpu0) / (rate["rate"] * args.seconds) * 1e6
                results[name].append(r)
            finally:
                b.stop()
                os.environ.clear()
                os.environ.update(saved)
    print(f"medians of {args.rounds} rounds; load average now {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    for name, rows in results.items():
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        line = (f"{name:50s} ready {med['ready']:5.0f} ms, CPU to ready {med['ready_cpu']:4.0f} ms, "
                f"idle RSS {med['rss']:.1f} MiB")
        if "rate" in med:
            line += f", request rate {med['rate']:6,.0f}/s, broker CPU {med['us_per_req']:4.0f} µs/request"
        print(line, flush=True)


if __name__ == "__main__":
    main()
