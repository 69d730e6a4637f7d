"""Fuzz every request codec (each API, each version, and the header-then-body path a server takes) and the
record-batch decoders for a large number of inputs, and report counts, crashes, hangs and memory.

Inputs: structure-aware seeds drawn once from hypothesis strategies derived from the schema (the round-trip
tests' `message_strategy`) and real record batches of every codec, then stacked byte-level mutations of them (bit
flips, interesting integers over length fields, truncation, insertion, deletion, duplication, splicing) and plain
random bytes. Record batches get their CRC fixed up after mutation half the time, so that mutations reach the
records and the decompressors instead of stopping at the CRC.

What counts:
- rejected: the decoder refused the input as it should (wire.codec.DecodeError; CorruptRecordError or
  InvalidRecordError for records);
- crash: any other exception (the input is saved);
- hang: one input taking over --timeout seconds (SIGALRM; the input is saved);
- memory: an input whose decoding ran out of memory (each worker's address space is capped at its start-up size
  plus --memory-mb, so an allocation at a hostile length fails there instead of taking the machine; saved).

Usage: python -m tests.fuzz [--inputs 1000000] [--jobs 2] [--seconds N] [--seed S] [--out fuzz-findings]
Exit status 1 when anything was found.
"""
from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import random
import resource
import signal
import struct
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import crc32c

from wire import record_timestamps
from wire import records as rec
from wire.codec import DecodeError, decode_request_header, encode_request_header, request_codec
from wire.legacy import build_message_set, legacy_to_v2
from wire.schema import APIS

INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 2**63 - 1, 2**64 - 1]


class Hang(BaseException):
    """Raised by the alarm; a BaseException so that no `except Exception` in a decoder can swallow it."""


def _alarm(signum: int, frame: object) -> None:
    raise Hang()


# ---------------------------------------------------------------------------------------------------------------
# seeds


def _codec_seeds(rng: random.Random, per_version: int) -> dict[tuple[int, int], list[bytes]]:
    """Valid request bodies of every API and version, drawn from the schema-derived hypothesis strategies."""
    from hypothesis.errors import NonInteractiveExampleWarning

    from tests.wire.test_roundtrip import message_strategy

    seeds: dict[tuple[int, int], list[bytes]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonInteractiveExampleWarning)
        for key, api in sorted(APIS.items()):
            for version in range(api.valid[0], api.valid[1] + 1):
                codec = request_codec(key, version)
                bodies = []
                for _ in range(per_version):
                    try:
                        bodies.append(codec.encode(message_strategy(key, version, "request").example()))
                    except Exception:  # a drawn value the encoder cannot write: skip it
                        continue
                seeds[(key, version)] = bodies or [b""]
    return seeds


def _batch_seeds() -> list[bytes]:
    out = []
    for codec in range(5):
        for records in ([rec.Record(0, 0, b"k", b"v")],
                        [rec.Record(i, i * 3, b"key%d" % i if i % 2 else None, b"value" * i, [("h", b"x")])
                         for i in range(6)]):
            out.append(rec.build_batch(records, base_timestamp=1_700_000_000_000, compression=codec))
            out.append(rec.build_batch(records, base_timestamp=-1, compression=codec, producer_id=7,
                                       producer_epoch=1, base_sequence=0, transactional=True))
    out.append(out[0] + out[3])  # two batches
    return out


def _legacy_seeds() -> list[bytes]:
    out = []
    for magic in (0, 1):
        for codec in (0, 1, 2):
            out.append(build_message_set([(0, 1_700_000_000_000, b"k", b"v"), (1, -1, None, b"value")], magic=magic,
                                         compression=codec))
    return out


# ---------------------------------------------------------------------------------------------------------------
# mutations


def mutate(rng: random.Random, data: bytes, splice: list[bytes]) -> bytes:
    if rng.random() < 0.03:
        return rng.randbytes(rng.randint(0, 300))
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(8)
        n = len(out)
        if kind == 0 and n:  # bit flips
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(n * 8)
                out[i // 8] ^= 1 << (i % 8)
        elif kind == 1 and n:  # an interesting byte
            out[rng.randrange(n)] = rng.choice([0, 1, 0x7F, 0x80, 0xFF])
        elif kind == 2 and n:  # an interesting integer over what may be a length or count field
            width = rng.choice([1, 2, 4, 8])
            pos = rng.randrange(n)
            value = rng.choice(INTERESTING + [n, n - pos, rng.randrange(1 << 16)]) % (1 << (8 * width))
            out[pos:pos + width] = value.to_bytes(width, "big")
        elif kind == 3 and n:  # truncate
            del out[rng.randrange(n):]
        elif kind == 4:  # insert random bytes
            pos = rng.randint(0, n)
            out[pos:pos] = rng.randbytes(rng.randint(1, 16))
        elif kind == 5 and n:  # delete a chunk
            pos = rng.randrange(n)
            del out[pos:pos + rng.randint(1, 16)]
        elif kind == 6 and n:  # duplicate a chunk
            pos = rng.randrange(n)
            chunk = out[pos:pos + rng.randint(1, 32)]
            at = rng.randint(0, n)
            out[at:at] = chunk
        elif kind == 7 and splice:  # splice in part of another seed
            other = rng.choice(splice)
            if other:
                a = rng.randrange(len(other))
                pos = rng.randint(0, n)
                out[pos:] = other[a:]
    return bytes(out)


def fix_crcs(data: bytes) -> bytes:
    """Recompute the CRC of every v2 batch whose length fits, so that a mutation gets past the CRC check."""
    out = bytearray(data)
    pos = 0
    while len(out) - pos >= rec.HEADER_SIZE:
        length = struct.unpack_from(">i", out, pos + 8)[0]
        end = pos + 12 + length
        if length < rec.HEADER_SIZE - 12 or end > len(out):
            break
        struct.pack_into(">I", out, pos + 17, crc32c.crc32c(bytes(out[pos + 21:end])))
        pos = end
    return bytes(out)


# ---------------------------------------------------------------------------------------------------------------
# targets: each returns normally (accepted or rejected as it should) or raises (a crash)

RECORD_ERRORS = (rec.CorruptRecordError, rec.InvalidRecordError)


def _records_target(data: bytes) -> str:
    try:
        batches = rec.validate_produce_batches(data)
    except RECORD_ERRORS:
        return "rejected"
    for pos, header in batches:
        try:
            record_timestamps.record_timestamp_range(data, pos)
            list(rec.iter_records(data, pos, verify_crc=False))
            record_timestamps.max_timestamp_trusted(header)
        except RECORD_ERRORS:
            return "rejected"
    return "ok"


def _stored_batches_target(data: bytes) -> str:
    """What reading a (damaged) segment does: batches without the produce checks, records decoded."""
    try:
        for pos, _ in rec.iter_batches(data, check_crc=False):
            list(rec.iter_records(data, pos, verify_crc=False))
    except RECORD_ERRORS:
        return "rejected"
    return "ok"


def _legacy_target(data: bytes) -> str:
    try:
        legacy_to_v2(data)
    except RECORD_ERRORS:
        return "rejected"
    return "ok"


def _codec_target(key: int, version: int) -> Callable[[bytes], str]:
    codec = request_codec(key, version)

    def run(data: bytes) -> str:
        try:
            codec.decode(data)
        except DecodeError as exc:
            if isinstance(exc.__cause__, MemoryError):
                raise exc.__cause__
            return "rejected"
        return "ok"

    return run


def _frame_target(data: bytes) -> str:
    """A server's path: the request header, then the body if the API and version are known."""
    try:
        header = decode_request_header(data)
    except DecodeError:
        return "rejected"
    api = APIS.get(header.api_key)
    if api is None or not api.valid[0] <= header.api_version <= api.valid[1]:
        return "rejected"
    return _codec_target(header.api_key, header.api_version)(data[header.size:])


# ---------------------------------------------------------------------------------------------------------------
# a worker


def worker(args: tuple[int, int, float, float, int, str, int]) -> dict[str, Any]:
    index, count, timeout, stop_at, memory_mb, out_dir, seed = args
    rng = random.Random(seed * 1_000_003 + index)
    codec_seeds = _codec_seeds(rng, 3)
    batch_seeds = _batch_seeds()
    legacy_seeds = _legacy_seeds()
    frames = []
    for (key, version), bodies in codec_seeds.items():
        frames += [encode_request_header(key, version, 1, "fuzz") + body for body in bodies[:1]]
    codec_keys = sorted(codec_seeds)
    codec_splice = [b for bodies in codec_seeds.values() for b in bodies]
    targets = {f"{APIS[k].name} v{v}": _codec_target(k, v) for k, v in codec_keys}

    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if memory_mb > 0:
        with open("/proc/self/statm") as f:
            vm_bytes = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limit = vm_bytes + memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
    signal.signal(signal.SIGALRM, _alarm)

    stats: Counter[str] = Counter()
    findings: list[str] = []
    done = 0
    started = time.monotonic()
    for done in range(1, count + 1):
        roll = rng.random()
        if roll < 0.55:
            key, version = codec_keys[rng.randrange(len(codec_keys))]
            family, name = "codec", f"{APIS[key].name} v{version}"
            data = mutate(rng, rng.choice(codec_seeds[(key, version)]), codec_splice)
            target = targets[name]
        elif roll < 0.65:
            family, name, target = "frame", "header+body", _frame_target
            data = mutate(rng, rng.choice(frames), frames)
        elif roll < 0.85:
            family, name, target = "records", "produce batches", _records_target
            data = mutate(rng, rng.choice(batch_seeds), batch_seeds)
            if rng.random() < 0.5:
                data = fix_crcs(data)
        elif roll < 0.93:
            family, name, target = "records", "stored batches", _stored_batches_target
            data = fix_crcs(mutate(rng, rng.choice(batch_seeds), batch_seeds))
        else:
            family, name, target = "legacy", "message sets", _legacy_target
            data = mutate(rng, rng.choice(legacy_seeds), legacy_seeds)
        stats[f"{family}:inputs"] += 1
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            outcome = target(data)
        except Hang:
            outcome = "hang"
        except MemoryError:
            outcome = "memory"
        except Exception as exc:
            outcome = "crash"
            name = f"{name}: {type(exc).__name__}: {exc}"[:300]
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        stats[f"{family}:{outcome}"] += 1
        if outcome in ("hang", "memory", "crash"):
            digest = hashlib.sha1(data).hexdigest()[:12]
            path = Path(out_dir) / f"{outcome}-{family}-{digest}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            findings.append(f"{outcome}: {name} ({path})")
        if done % 100_000 == 0:
            print(f"  worker {index}: {done:,} inputs, {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
        if stop_at and time.time() > stop_at:
            break
    return {"stats": dict(stats), "findings": findings, "inputs": done, "codecs": len(codec_keys),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "start_rss_mib": rss_start / 1024}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inputs", type=int, default=int(os.environ.get("FUZZ_INPUTS", 1_000_000)),
                    help="total inputs over all workers (default 1,000,000; env FUZZ_INPUTS)")
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("FUZZ_JOBS", os.cpu_count() or 1)))
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("FUZZ_SECONDS", 0)),
                    help="stop after this long even if fewer inputs ran (0: no limit)")
    ap.add_argument("--timeout", type=float, default=2.0, help="seconds one input may take before it is a hang")
    ap.add_argument("--memory-mb", type=int, default=512, help="address space a worker may add while fuzzing")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("FUZZ_SEED", time.time_ns() % 2**32)))
    ap.add_argument("--out", default="fuzz-findings", help="directory for the inputs that crash, hang or blow up")
    args = ap.parse_args()

    jobs = max(1, args.jobs)
    stop_at = time.time() + args.seconds if args.seconds else 0.0
    shares = [args.inputs // jobs + (1 if i < args.inputs % jobs else 0) for i in range(jobs)]
    print(f"fuzzing {args.inputs:,} inputs on {jobs} worker(s), seed {args.seed}", flush=True)
    began = time.monotonic()
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        results = pool.map(worker, [(i, n, args.timeout, stop_at, args.memory_mb, args.out, args.seed)
                                    for i, n in enumerate(shares)], chunksize=1)
    elapsed = time.monotonic() - began
    stats: Counter[str] = Counter()
    findings: list[str] = []
    for result in results:
        stats.update(result["stats"])
        findings += result["findings"]
    total = sum(r["inputs"] for r in results)
    print(f"\n{total:,} inputs in {elapsed:.0f} s ({total / elapsed:,.0f}/s), seed {args.seed}; "
          f"codec: {results[0]['codecs']} request codecs (every API, every version)")
    print(f"{'target':<10}{'inputs':>12}{'accepted':>12}{'rejected':>12}{'crashes':>9}{'hangs':>7}{'memory':>8}")
    for family in ("codec", "frame", "records", "legacy"):
        print(f"{family:<10}{stats[family + ':inputs']:>12,}{stats[family + ':ok']:>12,}"
              f"{stats[family + ':rejected']:>12,}{stats[family + ':crash']:>9}{stats[family + ':hang']:>7}"
              f"{stats[family + ':memory']:>8}")
    for i, r in enumerate(results):
        print(f"worker {i}: peak RSS {r['peak_rss_mib']:.0f} MiB (after seeding {r['start_rss_mib']:.0f} MiB)")
    for line in findings[:50]:
        print(line)
    if len(findings) > 50:
        print(f"... and {len(findings) - 50} more in {args.out}/")
    print("crashes: %d, hangs: %d, memory: %d" % (sum(stats[f + ":crash"] for f in ("codec", "frame", "records", "legacy")),
                                                 sum(stats[f + ":hang"] for f in ("codec", "frame", "records", "legacy")),
                                                 sum(stats[f + ":memory"] for f in ("codec", "frame", "records", "legacy"))))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
