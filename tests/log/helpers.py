"""Batches and logs for the storage tests."""
from __future__ import annotations

from pathlib import Path

from wire.records import Record, build_batch, iter_batches, parse_header, set_base_offset, set_partition_leader_epoch

from kbroker.log import Log, LogConfig
from kbroker.log.storage import Directory, DiskDirectory, MemoryDirectory


def make_batch(
    records: int = 1,
    *,
    value_size: int = 10,
    timestamp: int = 1_000,
    ts_step: int = 1,
    timestamps: list[int] | None = None,
    epoch: int = -1,
) -> bytes:
    """A valid v2 batch as a producer sends it: base offset 0, offset deltas 0..n-1."""
    if timestamps is None:
        timestamps = [timestamp + i * ts_step for i in range(records)]
    base = min(timestamps)
    recs = [Record(i, ts - base, None, bytes([i % 256]) * value_size) for i, ts in enumerate(timestamps)]
    return build_batch(recs, base_timestamp=base, partition_leader_epoch=epoch)


def as_stored(batch: bytes, base_offset: int, epoch: int) -> bytes:
    """What the log should hold for batch appended at base_offset in epoch."""
    buf = bytearray(batch)
    for position, _ in iter_batches(buf):
        set_base_offset(buf, position, base_offset)
        set_partition_leader_epoch(buf, position, epoch)
        base_offset += parse_header(buf, position).last_offset_delta + 1
    return bytes(buf)


def headers(data: bytes | memoryview) -> list:
    return [h for _, h in iter_batches(bytes(data))]


def open_log(where: Path | Directory, config: LogConfig | None = None) -> Log:
    return Log.open(where, config or LogConfig())


def new_directory(kind: str, tmp_path: Path) -> Directory:
    """A partition directory of the given engine: 'disk' (under tmp_path) or 'memory'."""
    if kind == "disk":
        return DiskDirectory(tmp_path / "topic-0")
    return MemoryDirectory("topic-0")


def read_all(log: Log, offset: int, max_bytes: int = 1 << 30, max_offset: int | None = None) -> bytes:
    """Every batch from offset to the end, read as a consumer would (one segment per read)."""
    out = bytearray()
    while True:
        info = log.read(offset, max_bytes, max_offset=max_offset)
        if not info.records:
            return bytes(out)
        out += info.records
        offset = info.next_offset
