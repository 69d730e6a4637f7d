"""Crash-consistency checker for a data directory (`kbroker check-log DIR`): reads the files as they are, after a
clean stop or a kill -9, changes nothing, and reports what no crash may leave behind.

Errors (the directory is damaged; the broker's recovery would lose or invent data):
- a segment's batches are not v2 batches that fit the file and pass their CRC, below the recovery point (or
  anywhere after a clean shutdown);
- offsets do not move forward: batches overlap or go back, within a segment or across segments;
- an offset index entry that does not point at a batch boundary of its segment, or names an offset outside the
  segment; entries not increasing; a time index entry with an offset outside its segment or a timestamp above
  the segment's largest (below the recovery point, or anywhere after a clean shutdown);
- a checkpoint ahead of the log: recovery point, log start offset or a leader epoch's start offset past the log
  end offset; leader epochs not increasing;
- a producer snapshot that does not read (CRC), is ahead of the log end, or names a batch (producer id, epoch,
  last sequence at its last offset) that the log holds differently;
- a transaction index entry outside its segment.

Notes (what a crash may leave and start-up recovery repairs): an incomplete or corrupt tail past the recovery
point of an uncleanly stopped log, index problems in the segments recovery rebuilds (from the one holding the
recovery point on), missing index files, leftover .tmp/.cleaned/.swap/.deleted files, a log start checkpoint
behind the first segment. Offset gaps on a topic not compacted now are notes too: the cleaner leaves them, and a
topic switched from compact to delete keeps them.

Segments are read a batch at a time, never whole.
"""
from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import crc32c

from wire import records as rec

from .checkpoint import CheckpointError, CheckpointFile
from .epoch_cache import CHECKPOINT_NAME as EPOCH_CHECKPOINT
from .loader import CLEAN_SHUTDOWN_FILE, LOG_START_OFFSET_FILE, RECOVERY_POINT_FILE
from .producer_state import CorruptSnapshotError, parse_snapshot_file_name, read_snapshot
from .segment import INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX, parse_segment_file_name

_LEFTOVERS = (".tmp", ".deleted", ".cleaned", ".swap")
_OFFSET_ENTRY = struct.Struct(">ii")
_TIME_ENTRY = struct.Struct(">qi")
_TXN_ENTRY = struct.Struct(">hqqqq")
_HEADER = struct.Struct(">qiibIhiqqqhii")
_CHUNK = 1 << 20  # bytes of a batch read at a time


@dataclass
class PartitionReport:
    name: str
    path: str
    clean_shutdown: bool = False
    compacted: bool = False
    segments: int = 0
    batches: int = 0
    log_start_offset: int | None = None
    log_end_offset: int = 0
    recovery_point: int | None = None
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Batch:
    position: int
    base_offset: int
    last_offset: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    max_timestamp: int
    control: bool


class _Files:
    """The read-only file access CheckpointFile needs (read_bytes); never creates anything."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name

    def read_bytes(self, name: str) -> bytes | None:
        try:
            return (self.path / name).read_bytes()
        except FileNotFoundError:
            return None


def _offset_checkpoint(files: _Files, name: str, report: PartitionReport) -> int | None:
    try:
        entries = CheckpointFile(files, name, 1).read()  # type: ignore[arg-type]
    except CheckpointError as exc:
        report.errors.append(f"{name} unreadable: {exc}")
        return None
    if not entries:
        return None
    return entries[0][0]


def _scan_segment(path: Path, base: int, report: PartitionReport, tail_ok_from: int | None) -> tuple[list[_Batch], int]:
    """The batches of one .log file and the bytes they cover, read a batch at a time. A bad batch at or after
    offset `tail_ok_from` ends the scan with a note (recovery cuts it there); before it, an error."""
    batches: list[_Batch] = []
    pos = 0
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        while pos < size:
            problem = None
            offset = None
            header = f.read(rec.HEADER_SIZE)
            if len(header) < rec.HEADER_SIZE:
                problem = f"{size - pos} trailing bytes shorter than a batch header"
            else:
                (offset, length, _epoch, magic, crc, attributes, delta, _base_ts, max_ts, pid, pepoch, base_seq,
                 _count) = _HEADER.unpack_from(header)
                end = pos + 12 + length
                if magic != 2:
                    problem = f"magic {magic}"
                elif length < rec.HEADER_SIZE - 12 or end > size:
                    problem = f"batch length {length} does not fit the file"
                else:
                    checksum = crc32c.crc32c(header[21:])
                    left = end - pos - rec.HEADER_SIZE
                    while left > 0:
                        chunk = f.read(min(left, _CHUNK))
                        if not chunk:
                            break
                        checksum = crc32c.crc32c(chunk, checksum)
                        left -= len(chunk)
                    if left:
                        problem = f"batch length {length} does not fit the file"
                    elif checksum != crc:
                        problem = "CRC mismatch"
                    elif delta < 0:
                        problem = f"negative lastOffsetDelta {delta}"
            if problem is not None:
                where = f"segment {base}: {problem} at position {pos}" + ("" if offset is None else f" (offset {offset})")
                prev_last = batches[-1].last_offset if batches else base - 1
                if tail_ok_from is not None and max(prev_last + 1, base) >= tail_ok_from:
                    report.notes.append(f"{where}: an incomplete tail past the recovery point ({size - pos} bytes), "
                                        "which recovery cuts")
                else:
                    report.errors.append(where)
                return batches, pos
            batches.append(_Batch(pos, offset, offset + delta, pid, pepoch, base_seq, max_ts,  # type: ignore[operator]
                                  bool(attributes & rec.CONTROL_BIT)))
            pos = end
    return batches, pos


def _check_offsets(segment_base: int, batches: list[_Batch], previous_last: int | None, report: PartitionReport) -> None:
    for batch in batches:
        if batch.base_offset < segment_base:
            report.errors.append(f"segment {segment_base}: batch at {batch.position} starts at offset "
                                 f"{batch.base_offset}, below the segment's base")
        if previous_last is not None:
            if batch.base_offset <= previous_last:
                report.errors.append(f"segment {segment_base}: batch at {batch.position} (offsets {batch.base_offset}-"
                                     f"{batch.last_offset}) does not follow offset {previous_last}")
            elif batch.base_offset != previous_last + 1 and not report.compacted:
                report.notes.append(f"segment {segment_base}: offsets {previous_last + 1}-{batch.base_offset - 1} "
                                    f"missing before the batch at {batch.position}: only the cleaner leaves gaps, and "
                                    "the topic is not compacted now (was it once?)")
        previous_last = batch.last_offset


def _check_offset_index(path: Path, base: int, batches: list[_Batch], problems: list[str]) -> None:
    data = path.read_bytes()
    if len(data) % _OFFSET_ENTRY.size:
        problems.append(f"{path.name}: size {len(data)} is not a whole number of entries")
        data = data[: len(data) - len(data) % _OFFSET_ENTRY.size]
    by_position = {b.position: b for b in batches}
    last = batches[-1].last_offset if batches else base - 1
    prev: tuple[int, int] | None = None
    for rel, position in _OFFSET_ENTRY.iter_unpack(data):
        offset = base + rel
        batch = by_position.get(position)
        if batch is None:
            problems.append(f"{path.name}: entry ({offset}, {position}) does not point at a batch of the segment")
        elif not batch.base_offset <= offset <= last:
            problems.append(f"{path.name}: entry ({offset}, {position}) names an offset outside "
                                 f"{batch.base_offset}-{last}")
        if prev is not None and (rel <= prev[0] or position <= prev[1]):
            problems.append(f"{path.name}: entry ({offset}, {position}) does not increase")
        prev = (rel, position)


def _check_time_index(path: Path, base: int, batches: list[_Batch], problems: list[str]) -> None:
    data = path.read_bytes()
    if len(data) % _TIME_ENTRY.size:
        problems.append(f"{path.name}: size {len(data)} is not a whole number of entries")
        data = data[: len(data) - len(data) % _TIME_ENTRY.size]
    last = batches[-1].last_offset if batches else base - 1
    largest = max((b.max_timestamp for b in batches), default=-1)
    prev: tuple[int, int] | None = None
    for timestamp, rel in _TIME_ENTRY.iter_unpack(data):
        offset = base + rel
        if not base <= offset <= last:
            problems.append(f"{path.name}: entry ({timestamp}, {offset}) names an offset outside {base}-{last}")
        elif timestamp > largest:
            problems.append(f"{path.name}: entry ({timestamp}, {offset}) above the segment's largest "
                                 f"timestamp {largest}")
        if prev is not None and (timestamp <= prev[0] or rel < prev[1]):
            problems.append(f"{path.name}: entry ({timestamp}, {offset}) does not increase")
        prev = (timestamp, rel)


def _check_txn_index(path: Path, base: int, last: int, report: PartitionReport) -> None:
    data = path.read_bytes()
    for _version, pid, first, last_offset, _lso in _TXN_ENTRY.iter_unpack(data[: len(data) - len(data) % 34]):
        if first > last_offset or not base <= last_offset <= last:
            report.errors.append(f"{path.name}: aborted transaction of producer {pid} ({first}-{last_offset}) "
                                 f"outside the segment's {base}-{last}")


def _check_snapshots(path: Path, batches_by_last: dict[int, _Batch], report: PartitionReport) -> None:
    for name in sorted(p.name for p in path.iterdir()):
        offset = parse_snapshot_file_name(name)
        if offset is None:
            continue
        if offset > report.log_end_offset:
            report.errors.append(f"{name}: producer snapshot at {offset}, past the log end {report.log_end_offset}")
        try:
            entries = read_snapshot((path / name).read_bytes())
        except CorruptSnapshotError as exc:
            report.errors.append(f"{name}: unreadable producer snapshot: {exc}")
            continue
        for entry in entries:
            for batch in entry.batches:
                if batch.last_offset >= offset:
                    report.errors.append(f"{name}: producer {entry.producer_id} batch ending at {batch.last_offset}, "
                                         f"at or past the snapshot's offset {offset}")
                    continue
                found = batches_by_last.get(batch.last_offset)
                if found is None:
                    continue  # removed since (retention, compaction) or below the scanned range
                found_last_seq = -1 if found.base_sequence < 0 else \
                    (found.base_sequence + found.last_offset - found.base_offset) & 0x7FFFFFFF
                if (found.producer_id, found.producer_epoch, found_last_seq) != \
                        (entry.producer_id, entry.producer_epoch, batch.last_seq):
                    report.errors.append(
                        f"{name}: producer {entry.producer_id} epoch {entry.producer_epoch} seq {batch.last_seq} at "
                        f"offset {batch.last_offset}, but the log holds producer {found.producer_id} epoch "
                        f"{found.producer_epoch} seq {found_last_seq} there")


def check_partition(path: Path, *, compacted: bool = False) -> PartitionReport:
    """Check one partition directory (`<topic>-<partition>`); compacted allows offset gaps between batches."""
    report = PartitionReport(name=path.name, path=str(path), compacted=compacted)
    files = _Files(path)
    names = sorted(p.name for p in path.iterdir())
    report.clean_shutdown = CLEAN_SHUTDOWN_FILE in names
    for name in names:
        if name.endswith(_LEFTOVERS):
            report.notes.append(f"{name}: left over from an interrupted operation (start-up removes it)")
    report.recovery_point = _offset_checkpoint(files, RECOVERY_POINT_FILE, report)
    report.log_start_offset = _offset_checkpoint(files, LOG_START_OFFSET_FILE, report)
    bases = sorted(parsed[0] for name in names if (parsed := parse_segment_file_name(name)) and parsed[1] == LOG_SUFFIX)
    if not report.clean_shutdown:  # recovery rebuilds the indexes from the segment holding the recovery point on
        point = report.recovery_point or 0
        rebuilt_from = max((b for b in bases if b <= point), default=0)
    else:
        rebuilt_from = None
    report.segments = len(bases)
    tail_ok_from = None if report.clean_shutdown else (report.recovery_point or 0)
    previous_last: int | None = None
    batches_by_last: dict[int, _Batch] = {}
    for i, base in enumerate(bases):
        stem = f"{base:020d}"
        batches, _ = _scan_segment(path / f"{stem}{LOG_SUFFIX}", base, report, tail_ok_from)
        report.batches += len(batches)
        if previous_last is not None and base <= previous_last:
            report.errors.append(f"segment {base} starts at or below offset {previous_last}, held by the previous one")
        elif previous_last is not None and base != previous_last + 1 and not compacted:
            report.notes.append(f"segment {base} does not follow on from offset {previous_last}: only the cleaner "
                                "leaves gaps, and the topic is not compacted now (was it once?)")
        if batches and i + 1 < len(bases) and batches[-1].last_offset >= bases[i + 1]:
            report.errors.append(f"segment {base} holds offset {batches[-1].last_offset}, past the next segment's "
                                 f"base {bases[i + 1]}")
        _check_offsets(base, batches, previous_last, report)
        for batch in batches:
            batches_by_last[batch.last_offset] = batch
        last = batches[-1].last_offset if batches else base - 1
        for suffix, checker in ((INDEX_SUFFIX, _check_offset_index), (TIME_INDEX_SUFFIX, _check_time_index)):
            index = path / f"{stem}{suffix}"
            if index.exists():
                if rebuilt_from is not None and base >= rebuilt_from:
                    found: list[str] = []
                    checker(index, base, batches, found)
                    report.notes += [f"{problem} (past the recovery point: recovery rebuilds it)" for problem in found]
                else:
                    checker(index, base, batches, report.errors)
            elif batches:
                report.notes.append(f"{index.name} missing (start-up rebuilds it)")
        txn = path / f"{stem}{TXN_INDEX_SUFFIX}"
        if txn.exists():
            _check_txn_index(txn, base, last, report)
        if batches:
            previous_last = batches[-1].last_offset
        elif previous_last is None or base > previous_last:
            previous_last = base - 1  # an empty segment: the log continues at its base
        report.log_end_offset = max(report.log_end_offset, previous_last + 1)
    end = report.log_end_offset
    if report.recovery_point is not None and report.recovery_point > end:
        report.errors.append(f"recovery point {report.recovery_point} is past the log end {end}")
    if report.log_start_offset is not None:
        if report.log_start_offset > end:
            report.errors.append(f"log start offset {report.log_start_offset} is past the log end {end}")
        elif bases and report.log_start_offset < bases[0]:
            report.notes.append(f"log start offset {report.log_start_offset} behind the first segment {bases[0]} "
                                "(start-up moves it up)")
    try:
        epochs = CheckpointFile(files, EPOCH_CHECKPOINT, 2).read() or []  # type: ignore[arg-type]
    except CheckpointError as exc:
        report.errors.append(f"{EPOCH_CHECKPOINT} unreadable: {exc}")
        epochs = []
    for (e1, o1), (e2, o2) in zip(epochs, epochs[1:]):
        if e2 <= e1 or o2 < o1:
            report.errors.append(f"{EPOCH_CHECKPOINT}: ({e2}, {o2}) after ({e1}, {o1}) does not increase")
    if epochs and epochs[-1][1] > end:
        report.errors.append(f"{EPOCH_CHECKPOINT}: epoch {epochs[-1][0]} starts at {epochs[-1][1]}, past the log "
                             f"end {end}")
    _check_snapshots(path, batches_by_last, report)
    return report


def _compacted_topics(data_dir: Path) -> tuple[set[str], bool]:
    """Topics whose cleanup.policy includes compact, from the broker's topics.json; and the broker default."""
    try:
        meta = json.loads((data_dir / "topics.json").read_text())
    except (OSError, ValueError):
        return set(), False
    broker = meta.get("broker_configs", {})
    default = {**broker.get("default", {}), **broker.get("node", {})}.get("log.cleanup.policy", "delete")
    out = set()
    for topic in meta.get("topics", []):
        policy = topic.get("configs", {}).get("cleanup.policy", default)
        if "compact" in policy:
            out.add(topic["name"])
    return out, "compact" in default


def check_directory(path: Path) -> list[PartitionReport]:
    """Check a data directory (every `<topic>-<partition>` in it) or a single partition directory."""
    path = Path(path)
    if any(parse_segment_file_name(p.name) for p in path.iterdir()):
        compacted, default = _compacted_topics(path.parent)
        topic = path.name.rpartition("-")[0]
        return [check_partition(path, compacted=topic.startswith("__") or topic in compacted or default)]
    compacted, default = _compacted_topics(path)
    reports = []
    for child in sorted(p for p in path.iterdir() if p.is_dir()):
        topic, sep, index = child.name.rpartition("-")
        if not sep or not index.isdigit() or child.name.endswith(_LEFTOVERS):
            continue
        internal = topic.startswith("__")
        reports.append(check_partition(child, compacted=internal or topic in compacted or default))
    return reports


def format_reports(reports: list[PartitionReport], *, verbose: bool = False) -> str:
    lines = []
    for r in reports:
        status = "ERROR" if r.errors else "ok"
        if r.errors or r.notes or verbose:
            lines.append(f"{r.name}: {status}, {r.segments} segment(s), {r.batches} batch(es), offsets "
                         f"{r.log_start_offset if r.log_start_offset is not None else '?'}-{r.log_end_offset}, "
                         f"recovery point {r.recovery_point}, {'clean' if r.clean_shutdown else 'unclean'} shutdown"
                         f"{', compacted' if r.compacted else ''}")
            lines += [f"  error: {e}" for e in r.errors]
            lines += [f"  note: {n}" for n in r.notes]
    errors = sum(len(r.errors) for r in reports)
    lines.append(f"{len(reports)} partition(s) checked, {sum(r.batches for r in reports)} batch(es), {errors} error(s), "
                 f"{sum(len(r.notes) for r in reports)} note(s)")
    return "\n".join(lines)
