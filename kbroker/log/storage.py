"""Where the bytes of a partition live: on disk or in memory, behind one small interface.

Everything above this module (segments, indexes, checkpoints, the loader) is written once against
`Directory` and `Storage`; the in-memory engine is the same logic with bytearrays, so `--in-memory` and the
tests exercise the real code paths, recovery included.
"""
from __future__ import annotations

import functools
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Callable, Protocol

Bytes = bytes | bytearray | memoryview
DELETE_SUFFIX = "-delete"


class Storage(Protocol):
    """An append-only byte file that can be read anywhere and cut short."""

    @property
    def size(self) -> int: ...

    def append(self, data: Bytes) -> int:
        """Write data at the end; returns the position it starts at."""
        ...

    def read(self, position: int, size: int) -> bytes:
        """Up to size bytes from position (fewer at the end); the result never changes under the caller."""
        ...

    def truncate(self, size: int) -> None: ...

    def flush(self) -> None:
        """Make what was written durable (fsync on disk)."""
        ...

    def mtime_ms(self) -> int: ...

    def set_mtime_ms(self, mtime_ms: int) -> None:
        """Set the modification time (the cleaner gives a cleaned copy its original's: retention may judge by it)."""
        ...

    def close(self) -> None: ...


class Directory(Protocol):
    """A flat directory of named files: one partition's segments, indexes and checkpoints."""

    @property
    def path(self) -> Path | None: ...

    @property
    def name(self) -> str:
        """The directory's name (`<topic>-<partition>`), for log messages."""
        ...

    def list(self) -> list[str]: ...

    def exists(self, name: str) -> bool: ...

    def open(self, name: str) -> Storage:
        """Open name for reading and appending, creating it empty if missing."""
        ...

    def delete(self, name: str) -> None:
        """Remove name if it exists."""
        ...

    def read_bytes(self, name: str) -> bytes | None: ...

    def write_atomic(self, name: str, data: bytes, *, sync: bool = True) -> None:
        """Replace name's content so that a crash leaves either the old or the new content (checkpoints).
        sync=False skips the fsyncs: the caller makes the file durable later (a background flush)."""
        ...

    def remove(self, later: Callable[[Callable[[], None]], object] | None = None) -> None:
        """Delete the directory and everything in it (the files through `later(job)` when given)."""
        ...


# -- on disk -------------------------------------------------------------------------------------------------


class FileStorage:
    """A file opened O_APPEND: appends are plain write() calls (the page cache keeps them if the process dies);
    reads are pread(), so a read never moves a file position and returns bytes no later write can change."""

    __slots__ = ("_path", "_fd", "_size")

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0), 0o644)
        self._size = os.fstat(self._fd).st_size

    @property
    def path(self) -> Path:
        return self._path

    @property
    def size(self) -> int:
        return self._size

    def append(self, data: Bytes) -> int:
        position = self._size
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
                self._size += written
        except OSError:
            # Disk full or I/O error: take back what part of data got written, so the file still ends on a
            # whole batch (or index entry) and a retry appends cleanly.
            try:
                os.ftruncate(self._fd, position)
                self._size = position
            except OSError:
                pass
            raise
        return position

    def read(self, position: int, size: int) -> bytes:
        size = min(size, self._size - position)
        if size <= 0:
            return b""
        return os.pread(self._fd, size, position)

    def truncate(self, size: int) -> None:
        if size < self._size:
            os.ftruncate(self._fd, size)
            self._size = size

    def flush(self) -> None:
        os.fsync(self._fd)

    def mtime_ms(self) -> int:
        return int(os.fstat(self._fd).st_mtime * 1000)

    def set_mtime_ms(self, mtime_ms: int) -> None:
        # half a millisecond in, so that reading it back through the float st_mtime gives the same millisecond
        os.utime(self._fd, ns=(time.time_ns(), mtime_ms * 1_000_000 + 500_000))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        # a storage dropped without close() (a log abandoned by its owner) must not keep its descriptor: a raw fd
        # has no file object to release it, and a long-lived process would run out of descriptors
        fd = getattr(self, "_fd", -1)
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass


class DiskDirectory:
    """One partition directory on disk."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self._path = Path(path)
        if create:
            self._path.mkdir(parents=True, exist_ok=True)

    @property
    def path(self) -> Path:
        return self._path

    @property
    def name(self) -> str:
        return self._path.name

    def list(self) -> list[str]:
        return sorted(entry.name for entry in os.scandir(self._path) if entry.is_file())

    def exists(self, name: str) -> bool:
        return (self._path / name).exists()

    def open(self, name: str) -> FileStorage:
        return FileStorage(self._path / name)

    def delete(self, name: str) -> None:
        try:
            os.unlink(self._path / name)
        except FileNotFoundError:
            pass

    def read_bytes(self, name: str) -> bytes | None:
        try:
            return (self._path / name).read_bytes()
        except FileNotFoundError:
            return None

    def write_atomic(self, name: str, data: bytes, *, sync: bool = True) -> None:
        tmp = self._path / (name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self._path / name)
        if sync:
            self.sync()

    def sync(self) -> None:
        """fsync the directory itself, so renames and new files survive a power loss."""
        fd = os.open(self._path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def remove(self, later: Callable[[Callable[[], None]], object] | None = None) -> None:
        """Rename to `<name>.<uuid>-delete` first (atomic: from then on the partition is gone even if the
        removal is interrupted; start-up removes such leftovers), then remove it: through `later` (a background
        worker's submit) when given, so that the caller never waits for the files to go."""
        doomed = self._path.with_name(f"{self._path.name}.{uuid.uuid4().hex}{DELETE_SUFFIX}")
        try:
            os.rename(self._path, doomed)
        except FileNotFoundError:
            return
        if later is None:
            shutil.rmtree(doomed, ignore_errors=True)
        else:
            later(functools.partial(shutil.rmtree, doomed, ignore_errors=True))


# -- in memory -----------------------------------------------------------------------------------------------


class MemoryStorage:
    """A bytearray with the FileStorage contract. Reads copy, because a bytearray that has exported a view
    cannot grow, and the active segment keeps growing while fetch responses are still being sent."""

    __slots__ = ("_data", "_mtime_ms")

    def __init__(self) -> None:
        self._data = bytearray()
        self._mtime_ms = int(time.time() * 1000)

    @property
    def size(self) -> int:
        return len(self._data)

    def append(self, data: Bytes) -> int:
        position = len(self._data)
        self._data += data
        self._mtime_ms = int(time.time() * 1000)
        return position

    def read(self, position: int, size: int) -> bytes:
        with memoryview(self._data) as view:
            return bytes(view[position : position + size])

    def read_from_thread(self, position: int, size: int) -> bytes:
        """read() for another thread while the event loop appends: a slice copies under the GIL and exports no
        buffer, so an append at the same moment cannot fail to resize the bytearray."""
        return bytes(self._data[position : position + size])

    def truncate(self, size: int) -> None:
        if size < len(self._data):
            del self._data[size:]
            self._mtime_ms = int(time.time() * 1000)

    def flush(self) -> None:
        pass

    def mtime_ms(self) -> int:
        return self._mtime_ms

    def set_mtime_ms(self, mtime_ms: int) -> None:
        self._mtime_ms = mtime_ms

    def close(self) -> None:
        pass

    def corrupt(self, position: int, value: int) -> None:
        """Tests: flip a byte as a bad disk would."""
        self._data[position] = value


class MemoryDirectory:
    """A partition directory held in a dict. Files outlive close(), so a Log can be closed and reopened on the
    same MemoryDirectory (tests of recovery run in memory too)."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._files: dict[str, MemoryStorage] = {}

    @property
    def path(self) -> Path | None:
        return None

    def list(self) -> list[str]:
        return sorted(self._files)

    def exists(self, name: str) -> bool:
        return name in self._files

    def open(self, name: str) -> MemoryStorage:
        storage = self._files.get(name)
        if storage is None:
            storage = self._files[name] = MemoryStorage()
        return storage

    def delete(self, name: str) -> None:
        self._files.pop(name, None)

    def read_bytes(self, name: str) -> bytes | None:
        storage = self._files.get(name)
        return None if storage is None else storage.read(0, storage.size)

    def write_atomic(self, name: str, data: bytes, *, sync: bool = True) -> None:
        storage = MemoryStorage()
        storage.append(data)
        self._files[name] = storage

    def remove(self, later: Callable[[Callable[[], None]], object] | None = None) -> None:
        self._files.clear()
