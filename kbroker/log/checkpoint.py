"""Small text checkpoint files in Kafka's layout: a version line, an entry count, then one entry per line.

They hold the few facts the segment files cannot tell on their own (log start offset, recovery point, leader
epochs) and are replaced atomically, so a crash leaves the old or the new version, never half of one.
"""
from __future__ import annotations

from typing import Sequence

from .storage import Directory

VERSION = 0


class CheckpointError(ValueError):
    """A checkpoint file that does not parse; callers fall back to what the segments can tell."""


class CheckpointFile:
    """Entries are tuples of ints written space-separated, `arity` of them per line."""

    def __init__(self, directory: Directory, name: str, arity: int) -> None:
        self.directory = directory
        self.name = name
        self.arity = arity

    def write(self, entries: Sequence[Sequence[int]]) -> None:
        lines = [str(VERSION), str(len(entries))]
        for entry in entries:
            if len(entry) != self.arity:
                raise ValueError(f"{self.name}: entry {entry!r} is not {self.arity} ints")
            lines.append(" ".join(str(int(v)) for v in entry))
        self.directory.write_atomic(self.name, ("\n".join(lines) + "\n").encode())

    def read(self) -> list[tuple[int, ...]] | None:
        """The entries, or None when the file does not exist; CheckpointError when it is malformed."""
        raw = self.directory.read_bytes(self.name)
        if raw is None:
            return None
        try:
            lines = raw.decode("ascii").splitlines()
            if len(lines) < 2 or int(lines[0]) != VERSION:
                raise CheckpointError(f"{self.name}: bad header")
            count = int(lines[1])
            if count != len(lines) - 2:
                raise CheckpointError(f"{self.name}: expected {count} entries, found {len(lines) - 2}")
            entries = [tuple(int(v) for v in line.split()) for line in lines[2:]]
        except (UnicodeDecodeError, ValueError) as exc:
            if isinstance(exc, CheckpointError):
                raise
            raise CheckpointError(f"{self.name}: {exc}") from exc
        if any(len(e) != self.arity for e in entries):
            raise CheckpointError(f"{self.name}: entries must have {self.arity} fields")
        return entries

    def delete(self) -> None:
        self.directory.delete(self.name)


class OffsetCheckpoint:
    """One offset (log start offset, recovery point) kept in its own checkpoint file."""

    def __init__(self, directory: Directory, name: str) -> None:
        self._file = CheckpointFile(directory, name, 1)

    @property
    def name(self) -> str:
        return self._file.name

    def write(self, offset: int) -> None:
        self._file.write([(offset,)])

    def read(self) -> int | None:
        entries = self._file.read()
        if not entries:
            return None
        if len(entries) != 1 or entries[0][0] < 0:
            raise CheckpointError(f"{self._file.name}: expected one non-negative offset")
        return entries[0][0]
