"""The scenario harness shared by the Python runners (standard library only; no kbroker code).

A runner is a real client program: it gets `--bootstrap HOST:PORT[,HOST:PORT...]`, runs the scenarios it is asked for (all
of them by default) and prints, on stdout, one JSON line naming the client and its version, then one JSON line
per scenario: {"scenario", "status": "pass"|"fail"|"n/a", "error", "seconds"}. Every scenario runs in a
daemon thread with its own time limit, so a hung client call turns into `fail: timeout after N s` and the next
scenario still runs. Scenario names and what each one checks are in compat/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import traceback
import uuid
from typing import Callable

SCENARIOS = [
    "metadata",
    "create_topic",
    "produce_acks_all",
    "consume_group",
    "commit_resume",
    "group_rebalance",
    "list_groups",
    "describe_groups",
    "list_offsets",
    "idempotent_producer",
    "transactions",
    "compression_gzip",
    "compression_snappy",
    "compression_lz4",
    "compression_zstd",
    "delete_topic",
    "share_group",
]

# Scenarios that wait for group rebalances get more time than the others.
LONG = {"group_rebalance": 120, "commit_resume": 90, "transactions": 90, "share_group": 60}

# The data every produce/consume scenario uses: KEYS keys, PER_KEY messages each, value "<key>:<seq>".
PARTITIONS = 3
KEYS = [f"key-{i}" for i in range(8)]
PER_KEY = 25


def addresses(bootstrap: str) -> list[str]:
    """The bootstrap's addresses: one for a single broker, every broker's for a cluster (the metadata scenario
    expects that many brokers, each advertised at one of them)."""
    return [a.strip() for a in bootstrap.split(",") if a.strip()]


def replication_factor(bootstrap: str) -> int:
    """Topics the scenarios create are replicated on every broker of the cluster (up to 3)."""
    return min(3, len(addresses(bootstrap)))


class NotApplicable(Exception):
    """The client cannot express this scenario (the message says why)."""


class Failure(Exception):
    """The scenario ran and saw something Kafka would not do."""


def check(cond: object, message: str) -> None:
    if not cond:
        raise Failure(message)


def topic_name(client: str, scenario: str) -> str:
    return f"compat-{client}-{scenario}-{uuid.uuid4().hex[:8]}".replace("_", "-")


def group_name(client: str, scenario: str) -> str:
    return f"compat-{client}-{scenario}-{uuid.uuid4().hex[:8]}-group".replace("_", "-")


def messages() -> list[tuple[str, str]]:
    """(key, value) pairs, interleaved across keys so per-key order is meaningful."""
    return [(k, f"{k}:{seq}") for seq in range(PER_KEY) for k in KEYS]


def verify_consumed(consumed: list[tuple[str, str, int]], produced_partition: dict[str, int] | None,
                    expected: list[tuple[str, str]] | None = None) -> None:
    """consumed: (key, value, partition) in the order received. Checks count, no duplicates, per-key order,
    and that each key came from one partition (the one the producer's delivery reports gave, if known)."""
    expected = messages() if expected is None else expected
    check(len(consumed) == len(expected),
          f"consumed {len(consumed)} messages, expected {len(expected)}")
    values = [v for _, v, _ in consumed]
    check(sorted(values) == sorted(v for _, v in expected), "consumed values differ from the produced ones")
    per_key: dict[str, list[int]] = {}
    part_of: dict[str, set[int]] = {}
    for k, v, p in consumed:
        check(v.startswith(k + ":"), f"value {v!r} arrived with key {k!r}")
        per_key.setdefault(k, []).append(int(v.rsplit(":", 1)[1]))
        part_of.setdefault(k, set()).add(p)
    for k, seqs in per_key.items():
        check(seqs == sorted(seqs), f"key {k}: out of order {seqs[:10]}...")
        check(len(part_of[k]) == 1, f"key {k} found in partitions {sorted(part_of[k])}")
        if produced_partition is not None:
            check(produced_partition.get(k) in part_of[k],
                  f"key {k} consumed from partition {sorted(part_of[k])}, delivered to {produced_partition.get(k)}")


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main(client: str, version: str, scenarios: dict[str, Callable[[str], None]], default_timeout: float = 60.0) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--scenarios", default="all", help="comma-separated names, or all")
    ap.add_argument("--timeout", type=float, default=default_timeout, help="seconds per scenario (long ones get more)")
    ap.add_argument("--timeouts", default="", help="per-scenario limits, name=seconds,... (win over --timeout)")
    args = ap.parse_args()
    limits = {**LONG, **{k: float(v) for k, _, v in (x.partition("=") for x in args.timeouts.split(",") if x)}}
    wanted = SCENARIOS if args.scenarios == "all" else [s for s in args.scenarios.split(",") if s]
    emit({"client": client, "version": version})
    for name in wanted:
        fn = scenarios.get(name)
        started = time.monotonic()
        if fn is None:
            emit({"scenario": name, "status": "n/a", "error": f"{client} has no runner code for this scenario",
                  "seconds": 0.0})
            continue
        limit = limits.get(name, args.timeout)
        result: dict = {}

        def body() -> None:
            try:
                fn(args.bootstrap)
                result.update(status="pass", error=None)
            except NotApplicable as exc:
                result.update(status="n/a", error=str(exc))
            except Failure as exc:
                result.update(status="fail", error=str(exc))
            except BaseException as exc:  # the client's own error, as it reported it
                tb = traceback.extract_tb(exc.__traceback__)
                where = f" (at {os.path.basename(tb[-1].filename)}:{tb[-1].lineno})" if tb else ""
                result.update(status="fail", error=f"{type(exc).__name__}: {exc}{where}")

        t = threading.Thread(target=body, name=name, daemon=True)
        t.start()
        t.join(limit)
        if t.is_alive():
            result = {"status": "fail", "error": f"timeout after {limit:.0f} s"}
        emit({"scenario": name, "status": result["status"], "error": result["error"],
              "seconds": round(time.monotonic() - started, 2)})
    sys.stdout.flush()
    os._exit(0)  # do not wait for a hung client thread
