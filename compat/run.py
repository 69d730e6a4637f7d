#!/usr/bin/env python3
"""kbroker's client compatibility suite: run every client's scenario runner against its own kbroker.

    python compat/run.py [--install] [--clients a,b] [--jobs N] [--check-baseline] [--update-baseline]

For each client it starts one kbroker (own data dir under compat/.work/<client>/, port 0), runs the client's
runner program with --bootstrap, reads the JSON lines it prints (one per scenario), and bounds every scenario:
a runner that says nothing for longer than the scenario's limit is killed, the scenario is recorded as
`timeout after N s`, and the runner is started again on the scenarios after it. It then writes compat/REPORT.md
and compat/.work/results.json, and compares with compat/baseline.json (the scenarios that passed before).

Exit status: 0, unless --check-baseline is given and a scenario listed in the baseline did not pass (1), or
the suite itself could not run (2). --install installs what the runners need (apt, pip, npm) first; the Go
runners are built here whenever their source is newer than their binary.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

COMPAT = Path(__file__).resolve().parent
ROOT = COMPAT.parent
WORK = COMPAT / ".work"
VENV_PY = ROOT / ".venv" / "bin" / "python"
PY = str(VENV_PY) if VENV_PY.exists() else sys.executable
READY = re.compile(r"kbroker ready: listening on [^ ,]+:(\d+)")
CLUSTER_READY = re.compile(r"kbroker cluster ready: \d+ brokers, bootstrap ([^ ]+),")
# What the cluster mode sets on every broker: Kafka's production-like replication settings.
CLUSTER_CONFIG = {"default.replication.factor": "3", "min.insync.replicas": "2"}

SCENARIOS = [
    "metadata", "create_topic", "produce_acks_all", "consume_group", "commit_resume", "group_rebalance",
    "list_groups", "describe_groups", "list_offsets", "idempotent_producer", "transactions",
    "compression_gzip", "compression_snappy", "compression_lz4", "compression_zstd", "delete_topic",
    "share_group",
]
# Seconds a runner gets for one scenario (the runner enforces it itself; this script kills it GRACE s later).
LIMITS = {name: 45 for name in SCENARIOS}
LIMITS.update(metadata=20, create_topic=30, commit_resume=75, group_rebalance=100, transactions=60, share_group=60)
GRACE = 20
STARTUP = 60  # a runner's first line (client name and version)

GOPATH = "/usr/share/gocode"
APT_PACKAGES = ["kcat", "golang-go", "golang-github-shopify-sarama-dev", "golang-github-segmentio-kafka-go-dev"]


def go_env() -> dict:
    return {**os.environ, "GO111MODULE": "off", "GOPATH": GOPATH, "GOFLAGS": "",
            "GOCACHE": str(WORK / "go-cache")}


# name -> how to run it (argv before --bootstrap), and what must exist first
CLIENTS: dict[str, dict] = {
    "confluent-kafka": {"argv": [PY, "clients/confluent_runner.py"]},
    "kafka-python": {"argv": [PY, "clients/kafka_python_runner.py"]},
    "aiokafka": {"argv": [PY, "clients/aiokafka_runner.py"]},
    "kcat": {"argv": [PY, "clients/kcat_runner.py"]},
    "kafkajs": {"argv": ["node", "node/kafkajs_runner.js"]},
    "platformatic-kafka": {"argv": ["node", "node/platformatic_runner.js"]},
    "sarama": {"argv": ["go/bin/sarama_runner"], "go": "go/sarama_runner",
               "deb": "golang-github-shopify-sarama-dev"},
    "kafka-go": {"argv": ["go/bin/kafkago_runner"], "go": "go/kafkago_runner",
                 "deb": "golang-github-segmentio-kafka-go-dev"},
}


_log_lock = threading.Lock()


def log(msg: str) -> None:
    with _log_lock:
        print(f"[compat {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ------------------------------------------------------------------------------------------------ install

def sh(cmd: list[str], cwd: Path | None = None, env: dict | None = None) -> None:
    log("$ " + " ".join(cmd))
    subprocess.run(cmd, cwd=cwd, env=env, check=True)


def install() -> None:
    """Everything the runners need on a fresh machine: Debian packages, PyPI packages into the project venv,
    npm packages into compat/node/node_modules. Each step is skipped when already satisfied."""
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    missing = [p for p in APT_PACKAGES
               if subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True,
                                 text=True).stdout.strip() != "install ok installed"]
    if missing:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        sh(sudo + ["apt-get", "update", "-qq"], env=env)
        sh(sudo + ["apt-get", "install", "-y", "-qq", *missing], env=env)
    if not shutil.which("node") or not shutil.which("npm"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        sh(sudo + ["apt-get", "install", "-y", "-qq", "nodejs", "npm"], env=env)
    if not VENV_PY.exists():
        sh(["make", "install"], cwd=ROOT)
    sh([str(VENV_PY), "-m", "pip", "install", "-q", "-e", str(ROOT), "-r", str(COMPAT / "requirements.txt")])
    node = COMPAT / "node"
    stamp = node / "node_modules" / ".package-lock.json"
    if not stamp.exists() or stamp.stat().st_mtime < (node / "package-lock.json").stat().st_mtime:
        sh(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=node)


def build_go(client: str) -> str | None:
    """Build a Go runner in GOPATH mode from Debian's packages; None when fine, else the error."""
    src = COMPAT / CLIENTS[client]["go"]
    binary = COMPAT / CLIENTS[client]["argv"][0]
    if not shutil.which("go"):
        return "go is not installed (run with --install)"
    if binary.exists() and binary.stat().st_mtime >= max(f.stat().st_mtime for f in src.glob("*.go")):
        return None
    binary.parent.mkdir(parents=True, exist_ok=True)
    deb = subprocess.run(["dpkg-query", "-W", "-f=${Version}", CLIENTS[client]["deb"]], capture_output=True,
                         text=True).stdout.strip()
    version = f"{deb} (Debian {CLIENTS[client]['deb']})" if deb else "unknown"
    r = subprocess.run(["go", "build", "-ldflags", f"-X 'main.libVersion={version}'", "-o", str(binary), "."],
                       cwd=src, env=go_env(), capture_output=True, text=True)
    if r.returncode != 0:
        return f"go build failed: {r.stderr.strip()[-800:]}"
    return None


# ------------------------------------------------------------------------------------------------ broker

class Broker:
    """`python -m kbroker serve` on port 0 with its own data dir, as tests/conftest.py starts it; with
    cluster=N, `python -m kbroker cluster --brokers N` (N replicating brokers in one process, each on a free
    port), and the bootstrap lists all of them."""

    def __init__(self, data_dir: Path, logfile: Path, cluster: int = 0) -> None:
        self.data_dir, self.logfile, self.cluster = data_dir, logfile, cluster
        self.proc: subprocess.Popen | None = None
        self.bootstrap = ""

    def start(self, timeout: float = 30) -> "Broker":
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.mkdir(parents=True)
        self.logf = open(self.logfile, "w")
        if self.cluster:
            args = [PY, "-m", "kbroker", "cluster", "--brokers", str(self.cluster), "--listen", "127.0.0.1:0",
                    "--data-dir", str(self.data_dir), "--set", "num.partitions=3"]
            for key, value in CLUSTER_CONFIG.items():
                args += ["--set", f"{key}={value}"]
        else:
            args = [PY, "-m", "kbroker", "serve", "--listen", "127.0.0.1:0", "--data-dir", str(self.data_dir),
                    "--set", "num.partitions=3"]
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        ready = threading.Event()

        def pump() -> None:
            for line in self.proc.stdout:
                self.logf.write(line)
                self.logf.flush()
                if ready.is_set():
                    continue
                if self.cluster:
                    m = CLUSTER_READY.search(line)
                    if m:
                        self.bootstrap = m.group(1)
                        ready.set()
                else:
                    m = READY.search(line)
                    if m:
                        self.bootstrap = f"127.0.0.1:{m.group(1)}"
                        ready.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("kbroker did not become ready: " + " / ".join(self.tail(3).splitlines()))
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, n: int = 15) -> str:
        try:
            return "".join(self.logfile.read_text(errors="replace").splitlines(True)[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


# ------------------------------------------------------------------------------------------------ runners

def work_dir(cluster: int) -> Path:
    """Logs and results of a mode: compat/.work/ for one broker, compat/.work/cluster-N/ for a cluster."""
    return WORK / f"cluster-{cluster}" if cluster else WORK


def run_client(client: str, timeout_scale: float, cluster: int = 0) -> dict:
    """Run one client's runner against a fresh broker (or cluster); returns {version, results: {...}, ...}."""
    started = time.monotonic()
    out = _run_client(client, timeout_scale, cluster)
    out["seconds"] = round(time.monotonic() - started, 1)
    return out


def _run_client(client: str, timeout_scale: float, cluster: int) -> dict:
    spec = CLIENTS[client]
    out = {"client": client, "version": "?", "results": {}, "notes": []}
    wdir = work_dir(cluster) / client
    wdir.mkdir(parents=True, exist_ok=True)
    limits = {s: LIMITS[s] * timeout_scale for s in SCENARIOS}

    def fail_all(names, error):
        for s in names:
            out["results"][s] = {"status": "fail", "error": error, "seconds": 0.0}

    if "go" in spec:
        err = build_go(client)
        if err:
            fail_all(SCENARIOS, err)
            return out
    if spec["argv"][0] == "node" and not (COMPAT / "node" / "node_modules").exists():
        fail_all(SCENARIOS, "compat/node/node_modules is missing (run with --install)")
        return out
    broker = Broker(wdir / "data", wdir / "broker.log", cluster)
    try:
        broker.start()
    except RuntimeError as exc:
        fail_all(SCENARIOS, str(exc))
        return out
    stderr_path = wdir / "runner.stderr"
    stderr_f = open(stderr_path, "w")
    remaining = list(SCENARIOS)
    try:
        while remaining:
            argv = [str(COMPAT / a) if a.startswith(("clients/", "node/", "go/")) else a for a in spec["argv"]]
            argv += ["--bootstrap", broker.bootstrap, "--scenarios", ",".join(remaining),
                     "--timeouts", ",".join(f"{s}={limits[s]:g}" for s in remaining)]
            stderr_f.write(f"==== {' '.join(argv)}\n")
            stderr_f.flush()
            proc = subprocess.Popen(argv, cwd=COMPAT, stdout=subprocess.PIPE, stderr=stderr_f, text=True,
                                    start_new_session=True)
            lines: queue.Queue = queue.Queue()

            def pump(p=proc, q=lines) -> None:
                for line in p.stdout:
                    q.put(line)
                q.put(None)

            threading.Thread(target=pump, daemon=True).start()
            reported_here = 0
            deadline = time.monotonic() + STARTUP
            current = remaining[0]
            ended = False
            while remaining:
                try:
                    line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    # the runner is stuck on `current`: kill it, record the timeout, go on after it
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    out["results"][current] = {"status": "fail", "seconds": round(limits[current] + GRACE, 1),
                                               "error": f"timeout after {limits[current]:.0f} s "
                                                        "(runner killed: it did not end the scenario itself)"}
                    remaining.remove(current)
                    break
                if line is None:
                    ended = True
                    break
                try:
                    obj = json.loads(line)
                except ValueError:
                    stderr_f.write("stdout: " + line)
                    continue
                if "client" in obj:
                    out["version"] = obj.get("version", "?")
                elif obj.get("scenario") in remaining:
                    name = obj["scenario"]
                    out["results"][name] = {"status": obj.get("status", "fail"), "error": obj.get("error"),
                                            "seconds": obj.get("seconds")}
                    remaining.remove(name)
                    reported_here += 1
                if remaining:
                    current = remaining[0]
                    deadline = time.monotonic() + limits[current] + GRACE
            if ended:
                rc = proc.wait()
                if remaining:
                    tail = stderr_path.read_text(errors="replace").strip().splitlines()[-3:]
                    err = f"runner exited with code {rc} before this scenario: {' | '.join(tail)}"[:600]
                    if reported_here == 0:
                        fail_all(remaining, err)
                        remaining = []
                    else:
                        out["results"][remaining[0]] = {"status": "fail", "error": err, "seconds": 0.0}
                        remaining.pop(0)
            else:
                if proc.poll() is None:
                    try:
                        proc.wait(10)
                    except subprocess.TimeoutExpired:
                        os.killpg(proc.pid, signal.SIGKILL)
                        proc.wait()
            if not broker.alive():
                out["notes"].append("kbroker exited during the run: " + broker.tail(8))
                fail_all(remaining, "kbroker had exited")
                remaining = []
    finally:
        stderr_f.close()
        if broker.alive():
            broker.stop()
        else:
            out["notes"].append(f"kbroker exited with code {broker.proc.returncode} during the run")
        tracebacks = [l for l in broker.tail(10_000).splitlines() if "Traceback" in l or " ERROR " in l]
        if tracebacks:
            out["notes"].append(f"kbroker logged {len(tracebacks)} error/traceback line(s); see "
                                f"{wdir.relative_to(ROOT)}/broker.log")
    return out


# ------------------------------------------------------------------------------------------------ report

def load_baseline_doc() -> dict:
    path = COMPAT / "baseline.json"
    return json.loads(path.read_text()) if path.exists() else {}


def baseline_section(doc: dict, cluster: int) -> dict:
    """The part of baseline.json for a mode: the top level for one broker (as it always was), the "cluster"
    section (same shape: "pass", "flaky") for a cluster."""
    return doc.get("cluster", {}) if cluster else doc


def load_baseline(cluster: int = 0) -> dict[str, list[str]]:
    return baseline_section(load_baseline_doc(), cluster).get("pass", {})


def git_rev() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "kbroker", "wire"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + ("+uncommitted changes" if dirty else "") if rev else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def cell(status: str) -> str:
    return {"pass": "pass", "fail": "**FAIL**", "n/a": "n/a"}.get(status, status)


def write_report(runs: list[dict], baseline: dict, regressions: list, total: float, path: Path,
                 cluster: int = 0) -> None:
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    kb_version = subprocess.run([PY, "-m", "kbroker", "--version"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip() or "kbroker ?"
    counts = {"pass": 0, "fail": 0, "n/a": 0}
    for r in runs:
        for res in r["results"].values():
            counts[res["status"]] = counts.get(res["status"], 0) + 1
    if cluster:
        mode = (f"Mode: **a cluster of {cluster} brokers** (`kbroker cluster --brokers {cluster}`, "
                + ", ".join(f"`{k}={v}`" for k, v in CLUSTER_CONFIG.items())
                + ", `num.partitions=3`), each client bootstrapped with all of them; baseline: the `cluster` "
                "section of compat/baseline.json.")
        again, title = f"`make compat-cluster`", f"kbroker client compatibility report: {cluster}-broker cluster"
    else:
        mode = ("Mode: **a single broker** (`kbroker serve`, `num.partitions=3`); the cluster mode's report is "
                "REPORT-cluster.md.")
        again, title = "`make compat`", "kbroker client compatibility report"
    L = [f"# {title}", "",
         f"Written by `python compat/run.py` on {when} against {kb_version} (git {git_rev()}); "
         f"the whole run took {total:.0f} s. Do not edit: run {again} again.", "", mode, "",
         f"**{counts['pass']} pass, {counts['fail']} fail ({len(regressions)} of them regressions from "
         f"compat/baseline.json), {counts['n/a']} n/a.** n/a: the client cannot express the scenario "
         "(reasons below). What each scenario checks: compat/README.md.", "",
         "## Clients", "", "| client | version | runner | run time |", "|---|---|---|---|"]
    for r in runs:
        spec = CLIENTS[r["client"]]
        L.append(f"| {r['client']} | {r['version']} | compat/{spec.get('go', spec['argv'][-1])} | {r['seconds']} s |")
    L += ["", "## Matrix", "", "| scenario | " + " | ".join(r["client"] for r in runs) + " |",
          "|---|" + "---|" * len(runs)]
    failures, nas = [], []
    for s in SCENARIOS:
        row = []
        for r in runs:
            res = r["results"].get(s, {"status": "fail", "error": "no result"})
            mark = cell(res["status"])
            if res["status"] == "fail":
                failures.append((r["client"], s, res))
                reg = s in baseline.get(r["client"], [])
                mark += f" [{len(failures)}]" + (" (regression)" if reg else "")
            elif res["status"] == "n/a":
                nas.append((r["client"], s, res.get("error") or ""))
            row.append(mark)
        L.append(f"| {s} | " + " | ".join(row) + " |")
    L += ["", "## Failures", ""]
    if not failures:
        L.append("None.")
    for i, (client, s, res) in enumerate(failures, 1):
        status = "regression: passed in the baseline" if s in baseline.get(client, []) else "known failure"
        err = (res.get("error") or "").replace("\n", " ").replace("|", "\\|")
        L.append(f"{i}. **{client} / {s}** ({status}): {err}")
    L += ["", "## Not applicable", ""]
    for client, s, why in nas:
        L.append(f"- {client} / {s}: {why}")
    notes = [(r["client"], n) for r in runs for n in r["notes"]]
    if notes:
        L += ["", "## Broker notes", ""]
        for client, n in notes:
            L.append(f"- {client}: {n.strip().replace(chr(10), ' / ')}")
    path.write_text("\n".join(L) + "\n")


# ------------------------------------------------------------------------------------------------ main

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--install", action="store_true", help="install what the runners need first (apt, pip, npm)")
    ap.add_argument("--clients", default="all", help=f"comma-separated, of: {', '.join(CLIENTS)}")
    ap.add_argument("--jobs", type=int, default=3, help="clients run at once, each with its own broker")
    ap.add_argument("--timeout-scale", type=float, default=1.0, help="multiply every scenario's time limit")
    ap.add_argument("--check-baseline", action="store_true",
                    help="exit 1 when a scenario listed in compat/baseline.json did not pass")
    ap.add_argument("--update-baseline", action="store_true",
                    help="add this run's passes to compat/baseline.json (never removes entries)")
    ap.add_argument("--prune-baseline", action="store_true",
                    help="with --update-baseline: also drop baseline entries that did not pass in this run")
    ap.add_argument("--cluster", type=int, default=0, metavar="N",
                    help="run each client against `kbroker cluster --brokers N` (replication factor 3, "
                         "min.insync.replicas=2) instead of one broker; report compat/REPORT-cluster.md, "
                         "baseline: the cluster section of compat/baseline.json")
    ap.add_argument("--report", type=Path, default=None,
                    help="default compat/REPORT.md, or compat/REPORT-cluster.md with --cluster")
    args = ap.parse_args()
    if args.report is None:
        args.report = COMPAT / ("REPORT-cluster.md" if args.cluster else "REPORT.md")

    clients = list(CLIENTS) if args.clients == "all" else [c.strip() for c in args.clients.split(",") if c]
    unknown = [c for c in clients if c not in CLIENTS]
    if unknown:
        ap.error(f"unknown clients {unknown}")
    t0 = time.monotonic()
    work_dir(args.cluster).mkdir(parents=True, exist_ok=True)
    if args.install:
        try:
            install()
        except subprocess.CalledProcessError as exc:
            log(f"install step failed: {exc}")
            return 2
    # build the Go runners before the clock of any broker starts
    for c in clients:
        if "go" in CLIENTS[c]:
            t = time.monotonic()
            err = build_go(c)
            log(f"built {c} runner in {time.monotonic() - t:.1f} s" if not err else f"{c}: {err}")

    def one(c: str) -> dict:
        log(f"{c}: starting")
        r = run_client(c, args.timeout_scale, args.cluster)
        st = [v["status"] for v in r["results"].values()]
        log(f"{c} {r['version']}: {st.count('pass')} pass, {st.count('fail')} fail, {st.count('n/a')} n/a "
            f"in {r.get('seconds', 0)} s")
        return r

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
        runs = list(ex.map(one, clients))
    total = time.monotonic() - t0

    baseline = load_baseline(args.cluster)
    regressions = [(r["client"], s) for r in runs for s in baseline.get(r["client"], [])
                   if r["results"].get(s, {}).get("status") != "pass"]
    (work_dir(args.cluster) / "results.json").write_text(
        json.dumps({"cluster": args.cluster, "runs": runs, "seconds": round(total, 1)}, indent=1))
    write_report(runs, baseline, regressions, total, args.report, args.cluster)
    log(f"wrote {args.report.relative_to(ROOT) if args.report.is_relative_to(ROOT) else args.report} "
        f"in {total:.0f} s")

    if args.update_baseline:
        new = {k: set(v) for k, v in baseline.items()}
        for r in runs:
            passed = {s for s, res in r["results"].items() if res["status"] == "pass"}
            new[r["client"]] = passed if args.prune_baseline else new.get(r["client"], set()) | passed
        full = load_baseline_doc()
        old = baseline_section(full, args.cluster)
        doc = {"comment": "Scenarios that passed before, per client: written by `python compat/run.py "
                          "--update-baseline`; `--check-baseline` fails when one of them no longer passes."
                          + ("" if args.cluster else " The cluster mode's (--cluster N) are in \"cluster\"."),
               "pass": {c: [s for s in SCENARIOS if s in new[c]] for c in CLIENTS if c in new}}
        if args.cluster:
            doc["comment"] = ("The same for the cluster mode (`python compat/run.py --cluster "
                              f"{args.cluster} --update-baseline`).")
        if old.get("flaky"):  # scenarios known to flake stay out of the baseline
            doc["flaky"] = old["flaky"]
            for c, names in old["flaky"].items():
                doc["pass"][c] = [s for s in doc["pass"].get(c, []) if s not in names]
        if args.cluster:
            full["cluster"] = doc
        else:
            full = {**doc, **({"cluster": full["cluster"]} if "cluster" in full else {})}
        (COMPAT / "baseline.json").write_text(json.dumps(full, indent=2) + "\n")
        log("updated compat/baseline.json")

    for c, s in regressions:
        log(f"REGRESSION {c} / {s}: {runs[[r['client'] for r in runs].index(c)]['results'].get(s, {}).get('error')}")
    if args.check_baseline and regressions:  # against the baseline as it was before this run
        log(f"{len(regressions)} scenario(s) that passed in compat/baseline.json no longer pass")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
