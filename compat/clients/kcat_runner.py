"""Compat scenarios with Debian's kcat (librdkafka as Debian ships it), driven as a command-line program.

kcat has no admin API: topics are auto-created by producing (the suite's broker runs with num.partitions=3),
and listing/describing groups or deleting topics are n/a. Run by compat/run.py.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time

from _harness import (addresses, replication_factor, KEYS, PARTITIONS, Failure, NotApplicable, check, group_name, main, messages,
                      topic_name, verify_consumed)

CLIENT = "kcat"
KCAT = os.environ.get("KCAT", shutil.which("kcat") or "/usr/bin/kcat")
FMT = r"%k\t%s\t%p\t%o\n"
GROUP_TIMING = ["-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"]


def kcat(bootstrap: str, *args: str, stdin: str | None = None, timeout: float = 30) -> str:
    try:
        r = subprocess.run([KCAT, "-b", bootstrap, *args], input=stdin, capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise Failure(f"kcat {' '.join(args[:3])}... did not finish in {timeout:.0f} s; stderr: "
                      f"{(exc.stderr or b'')[-300:]!r}") from None
    bad = [line for line in r.stderr.splitlines()
           if line.startswith(("% ERROR", "% Failed")) or "Delivery failed" in line]
    if r.returncode != 0 or bad:
        what = " ".join(a for a in args if not a.startswith("compat-"))
        raise Failure(f"kcat {what} exited {r.returncode}: {(bad[-1] if bad else r.stderr.strip()[-300:])}")
    return r.stdout


def parse(out: str) -> list[tuple[str, str, int]]:
    rows = []
    for line in out.splitlines():
        if line:
            k, v, p, _ = line.split("\t")
            rows.append((k, v, int(p)))
    return rows


def produce(bootstrap: str, topic: str, *extra: str, items: list[tuple[str, str]] | None = None) -> None:
    items = messages() if items is None else items
    kcat(bootstrap, "-P", "-t", topic, "-K", ":", "-X", "acks=all", "-X", "linger.ms=5", *extra,
         stdin="".join(f"{k}:{v}\n" for k, v in items))


def read_all(bootstrap: str, topic: str, *extra: str) -> list[tuple[str, str, int]]:
    return parse(kcat(bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", FMT, *extra))


def offsets_of(bootstrap: str, topic: str) -> dict[int, list[int]]:
    out = kcat(bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", r"%p\t%o\n")
    offs: dict[int, list[int]] = {}
    for line in out.splitlines():
        p, o = map(int, line.split("\t"))
        offs.setdefault(p, []).append(o)
    return offs


def group_read(bootstrap: str, group: str, topic: str, *extra: str, timeout: float = 40) -> list[tuple[str, str, int]]:
    out = kcat(bootstrap, "-G", group, "-X", "auto.offset.reset=earliest", *GROUP_TIMING, "-e", "-q", "-f", FMT,
               *extra, topic, timeout=timeout)
    return parse(out)


# ---------------------------------------------------------------------------------------------- scenarios

def s_metadata(bootstrap: str) -> None:
    md = json.loads(kcat(bootstrap, "-L", "-J"))
    want = sorted(addresses(bootstrap))
    check(len(md["brokers"]) == len(want), f"brokers {md['brokers']}, bootstrap {want}")
    check(sorted(b["name"] for b in md["brokers"]) == want, f"brokers advertised as {md['brokers']}")
    check(md["controllerid"] in {b["id"] for b in md["brokers"]}, f"controller {md['controllerid']}")


def s_create_topic(bootstrap: str) -> None:
    t = topic_name(CLIENT, "create")
    produce(bootstrap, t, items=messages()[:1])  # kcat creates topics only by auto-creation
    md = json.loads(kcat(bootstrap, "-L", "-J", "-t", t))
    tm = md["topics"][0]
    check(tm["topic"] == t and not tm.get("error"), f"topic metadata {tm}")
    check(len(tm["partitions"]) == PARTITIONS, f"{len(tm['partitions'])} partitions (num.partitions=3)")
    for p in tm["partitions"]:  # auto-created: default.replication.factor (3 in the cluster mode)
        check(len(p["replicas"]) == replication_factor(bootstrap), f"partition replicas {p}")


def s_produce_acks_all(bootstrap: str) -> None:
    t = topic_name(CLIENT, "produce")
    produce(bootstrap, t)
    rows = read_all(bootstrap, t)
    verify_consumed(rows, None)
    for p, offs in offsets_of(bootstrap, t).items():
        check(offs == list(range(len(offs))), f"partition {p}: offsets {offs[:10]}...")


def s_consume_group(bootstrap: str) -> None:
    t = topic_name(CLIENT, "consume")
    produce(bootstrap, t)
    parts = {k: p for k, _, p in read_all(bootstrap, t)}
    verify_consumed(group_read(bootstrap, group_name(CLIENT, "consume"), t), parts)


def s_commit_resume(bootstrap: str) -> None:
    t = topic_name(CLIENT, "resume")
    g = group_name(CLIENT, "resume")
    produce(bootstrap, t)
    total = len(messages())
    parts = {k: p for k, _, p in read_all(bootstrap, t)}
    # -c stops after N messages; librdkafka commits the stored offsets when kcat closes the consumer
    first = group_read(bootstrap, g, t, "-c", str(total // 2))
    check(len(first) == total // 2, f"first consumer got {len(first)} of {total // 2}")
    rest = group_read(bootstrap, g, t)
    verify_consumed(first + rest, parts)


class Member:
    """A `kcat -G` process; its stderr tells its assignments, its stdout the messages."""

    def __init__(self, bootstrap: str, group: str, topic: str) -> None:
        self.proc = subprocess.Popen([KCAT, "-b", bootstrap, "-G", group, "-X", "auto.offset.reset=earliest",
                                      "-X", "auto.commit.interval.ms=200", *GROUP_TIMING, "-u", "-f", FMT, topic],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assigned: set[int] = set()
        self.rows: list[tuple[str, str, int]] = []
        self.log: list[str] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._err, daemon=True).start()
        threading.Thread(target=self._out, daemon=True).start()

    def _err(self) -> None:
        for line in self.proc.stderr:
            self.log.append(line)
            m = re.search(r"rebalanced \(memberid [^)]*\): (assigned|revoked): ?(.*)", line)
            if m:
                ps = {int(x) for x in re.findall(r"\[(\d+)\]", m.group(2))}
                with self.lock:
                    self.assigned = ps if m.group(1) == "assigned" else set()

    def _out(self) -> None:
        for line in self.proc.stdout:
            with self.lock:
                self.rows += parse(line)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def wait_for(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return bool(cond())


def s_group_rebalance(bootstrap: str) -> None:
    t = topic_name(CLIENT, "rebalance")
    g = group_name(CLIENT, "rebalance")
    allp = set(range(PARTITIONS))
    produce(bootstrap, t, items=[])  # nothing: kcat needs the topic to exist before -G subscribes
    kcat(bootstrap, "-L", "-t", t, "-X", "allow.auto.create.topics=true")
    c1 = Member(bootstrap, g, t)
    c2 = None
    try:
        check(wait_for(lambda: c1.assigned == allp, 30), f"first member assigned {sorted(c1.assigned)}; "
              f"{''.join(c1.log[-3:])}")
        c2 = Member(bootstrap, g, t)
        split = lambda: (c1.assigned and c2.assigned and not (c1.assigned & c2.assigned)  # noqa: E731
                         and (c1.assigned | c2.assigned) == allp)
        check(wait_for(split, 40), f"two members did not split the partitions: {sorted(c1.assigned)} / "
              f"{sorted(c2.assigned)}")
        a, b = set(c1.assigned), set(c2.assigned)
        batch_a = [(k, f"{k}:{i}") for i in range(5) for k in KEYS]
        produce(bootstrap, t, items=batch_a)
        check(wait_for(lambda: len(c1.rows) + len(c2.rows) >= len(batch_a), 30),
              f"members consumed {len(c1.rows)}+{len(c2.rows)} of {len(batch_a)}")
        check({p for _, _, p in c1.rows} <= a and {p for _, _, p in c2.rows} <= b,
              "a member got messages from partitions it was not assigned")
        time.sleep(0.5)  # let auto-commit (200 ms) store what was consumed
        c2.stop()
        check(wait_for(lambda: c1.assigned == allp, 40),
              f"after the second member left the first has {sorted(c1.assigned)}")
        before = len(c1.rows)
        batch_b = [(k, f"{k}:{i}") for i in range(5, 10) for k in KEYS]
        produce(bootstrap, t, items=batch_b)
        wait_for(lambda: len(c1.rows) - before >= len(batch_b), 30)
        time.sleep(1.0)
        after = c1.rows[before:]
        check(sorted(v for _, v, _ in after) == sorted(v for _, v in batch_b),
              f"after takeover the remaining member got {len(after)} messages, expected exactly the "
              f"{len(batch_b)} new ones")
    finally:
        c1.stop()
        if c2 is not None:
            c2.stop()


def s_list_offsets(bootstrap: str) -> None:
    t = topic_name(CLIENT, "offsets")
    produce(bootstrap, t, "-p", "0", items=[("k", str(i)) for i in range(5)])
    time.sleep(1.2)
    middle = int(time.time() * 1000)
    time.sleep(0.2)
    produce(bootstrap, t, "-p", "0", items=[("k", str(i)) for i in range(5, 10)])

    def q(ts: int) -> int:
        out = kcat(bootstrap, "-Q", "-t", f"{t}:0:{ts}")
        m = re.search(r"\[0\] offset (-?\d+)", out)
        check(m, f"kcat -Q printed {out!r}")
        return int(m.group(1))

    check(q(-2) == 0, f"earliest {q(-2)}")
    check(q(-1) == 10, f"latest {q(-1)}")
    check(q(middle) == 5, f"by timestamp: {q(middle)}, expected 5")


def s_idempotent_producer(bootstrap: str) -> None:
    t = topic_name(CLIENT, "idempotent")
    produce(bootstrap, t, "-X", "enable.idempotence=true")
    verify_consumed(read_all(bootstrap, t), None)


def s_transactions(bootstrap: str) -> None:
    t = topic_name(CLIENT, "txn")
    produce(bootstrap, t, items=[])
    txid = topic_name(CLIENT, "txid")

    def batch(name: str) -> str:
        return "".join(f"{k}:{k}:{name}{i}\n" for i in range(10) for k in KEYS[:3])

    # A: committed when stdin closes
    kcat(bootstrap, "-P", "-t", t, "-K", ":", "-X", f"transactional.id={txid}", "-m", "15", stdin=batch("A"),
         timeout=40)
    # B: aborted by SIGINT while the transaction is open. kcat reads stdin in large blocks and produces nothing
    # of a short input before EOF, so B is long enough that most of it reaches the broker before the SIGINT.
    proc = subprocess.Popen([KCAT, "-b", bootstrap, "-P", "-t", t, "-K", ":", "-X", f"transactional.id={txid}",
                             "-m", "15"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        proc.stdin.write(batch("B") + "".join(f"{KEYS[i % 3]}:{KEYS[i % 3]}:Bfill{i}-{'x' * 40}\n"
                                               for i in range(3000)))
        proc.stdin.flush()
        time.sleep(2.0)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # C: committed
    kcat(bootstrap, "-P", "-t", t, "-K", ":", "-X", f"transactional.id={txid}", "-m", "15", stdin=batch("C"),
         timeout=40)
    committed = read_all(bootstrap, t, "-X", "isolation.level=read_committed")
    values = [v for _, v, _ in committed]
    check(len(values) == 60 and all(":B" not in v for v in values),
          f"read_committed saw {len(values)} messages ({sum(':B' in v for v in values)} aborted), expected 60")
    for k in KEYS[:3]:
        seq = [v.split(":")[1] for kk, v, _ in committed if kk == k]
        check(seq == [f"A{i}" for i in range(10)] + [f"C{i}" for i in range(10)], f"key {k} order {seq}")
    everything = read_all(bootstrap, t, "-X", "isolation.level=read_uncommitted")
    sent_b = sum(":B" in v for _, v, _ in everything)
    check(len(everything) - sent_b == 60 and sent_b > 0,
          f"read_uncommitted saw {len(everything)} messages, {sent_b} of them from the aborted transaction; expected "
          f"the 60 committed ones plus some of the aborted (kcat said {' / '.join(err.strip().splitlines()[-2:])!r})")


def compression(codec: str):
    def s(bootstrap: str) -> None:
        t = topic_name(CLIENT, codec)
        produce(bootstrap, t, "-z", codec, "-X", "linger.ms=50")
        verify_consumed(read_all(bootstrap, t), None)
    return s


def na(reason: str):
    def s(bootstrap: str) -> None:
        raise NotApplicable(reason)
    return s


def version() -> str:
    out = subprocess.run([KCAT, "-V"], capture_output=True, text=True).stdout
    m = re.search(r"Version (\S+) .*librdkafka (\S+)", out)
    return f"{m.group(1)} (librdkafka {m.group(2)})" if m else out.strip()[:60]


if __name__ == "__main__":
    main("kcat", version(), {
        "metadata": s_metadata,
        "create_topic": s_create_topic,
        "produce_acks_all": s_produce_acks_all,
        "consume_group": s_consume_group,
        "commit_resume": s_commit_resume,
        "group_rebalance": s_group_rebalance,
        "list_groups": na("kcat cannot list groups"),
        "describe_groups": na("kcat cannot describe groups"),
        "list_offsets": s_list_offsets,
        "idempotent_producer": s_idempotent_producer,
        "transactions": s_transactions,
        "compression_gzip": compression("gzip"),
        "compression_snappy": compression("snappy"),
        "compression_lz4": compression("lz4"),
        "compression_zstd": compression("zstd"),
        "delete_topic": na("kcat cannot delete topics"),
    })
