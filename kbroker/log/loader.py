"""Start-up of one partition log: find the segments, repair what a crash left, restore the offsets
(Kafka's LogLoader). Runs once in Log.open, never on the append or fetch path.

After a clean shutdown (marker file written by Log.close) nothing is scanned: the indexes are trusted, checked
lazily when first used, and the log end offset comes from the last index entry plus a short scan. Without the
marker (crash, kill -9), every segment from the one holding the recovery point — the offset up to which
everything was fsynced, i.e. in practice the last segment or two — is scanned batch by batch (framing, CRC,
offsets moving forward), its indexes rebuilt, and cut at the first batch that fails; segments after a cut are
deleted, since their offsets would no longer follow on.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from wire.records import BatchHeader, CorruptRecordError

from .checkpoint import CheckpointError, OffsetCheckpoint
from .config import LogConfig
from .epoch_cache import LeaderEpochFileCache
from .segment import INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX, LogSegment, parse_segment_file_name
from .segments import LogSegments
from .storage import Directory

log = logging.getLogger(__name__)

CLEAN_SHUTDOWN_FILE = ".kafka_cleanshutdown"
LOG_START_OFFSET_FILE = "log-start-offset-checkpoint"
RECOVERY_POINT_FILE = "recovery-point-offset-checkpoint"
_LEFTOVER_SUFFIXES = (".tmp", ".deleted", ".cleaned", ".swap")


@dataclass(slots=True)
class LoadedLog:
    segments: LogSegments
    log_start_offset: int
    log_end_offset: int
    recovery_point: int
    had_clean_shutdown: bool
    truncated_bytes: int
    """Bytes cut by recovery (partial or corrupt batches), for the broker's start-up log line."""


def read_offset_checkpoint(checkpoint: OffsetCheckpoint, directory: Directory) -> int | None:
    try:
        return checkpoint.read()
    except CheckpointError as exc:
        log.warning("%s: ignoring unreadable %s: %s", directory.name, checkpoint.name, exc)
        return None


class LogLoader:
    def __init__(
        self,
        directory: Directory,
        config: LogConfig,
        epoch_cache: LeaderEpochFileCache,
        log_start_checkpoint: OffsetCheckpoint,
        recovery_point_checkpoint: OffsetCheckpoint,
    ) -> None:
        self.directory = directory
        self.config = config
        self.epoch_cache = epoch_cache
        self.log_start_checkpoint = log_start_checkpoint
        self.recovery_point_checkpoint = recovery_point_checkpoint

    def load(self) -> LoadedLog:
        directory = self.directory
        bases = self._remove_leftovers()
        clean = directory.exists(CLEAN_SHUTDOWN_FILE)
        directory.delete(CLEAN_SHUTDOWN_FILE)  # from here on, a crash means unclean
        checkpointed_start = read_offset_checkpoint(self.log_start_checkpoint, directory)
        recovery_point = read_offset_checkpoint(self.recovery_point_checkpoint, directory) or 0

        segments = LogSegments([LogSegment.open(directory, base, self.config) for base in bases])
        truncated = 0
        if not clean and segments:
            truncated = self._recover(segments, recovery_point)
        if not segments:
            segments.add(LogSegment.create(directory, checkpointed_start or 0, self.config))

        try:
            log_end_offset = segments.active.read_next_offset()
        except CorruptRecordError as exc:  # marked clean, yet the tail does not parse: recover it anyway
            log.warning("%s: active segment unreadable after a clean shutdown (%s); recovering", directory.name, exc)
            truncated += self._recover(segments, segments.active.base_offset)
            log_end_offset = segments.active.read_next_offset()

        log_start_offset = max(checkpointed_start or 0, segments.first.base_offset)
        if log_start_offset > log_end_offset:
            # The checkpointed start is beyond what survived: nothing below it may be read, so start afresh there.
            log.warning(
                "%s: log start offset %d beyond log end %d; starting empty at %d",
                directory.name, log_start_offset, log_end_offset, log_start_offset,
            )
            for segment in segments.clear():
                segment.delete()
            segments.add(LogSegment.create(directory, log_start_offset, self.config))
            self.epoch_cache.clear()
            log_end_offset = log_start_offset
        if log_start_offset != checkpointed_start:
            self.log_start_checkpoint.write(log_start_offset)
        self.epoch_cache.truncate_from_end(log_end_offset)
        self.epoch_cache.truncate_from_start(log_start_offset)

        if clean:
            recovery_point = min(recovery_point, log_end_offset)
        else:
            # What recovery validated is in the page cache only; make it durable before calling it recovered.
            for segment in segments.from_offset(recovery_point):
                segment.flush()
            recovery_point = log_end_offset
            self.recovery_point_checkpoint.write(recovery_point)
        return LoadedLog(segments, log_start_offset, log_end_offset, recovery_point, clean, truncated)

    def _remove_leftovers(self) -> list[int]:
        """Delete what an interrupted operation left (temporary and .deleted files, indexes without a .log)
        and return the base offsets of the segments."""
        names = self.directory.list()
        bases = set()
        for name in names:
            parsed = parse_segment_file_name(name)
            if parsed is not None and parsed[1] == LOG_SUFFIX:
                bases.add(parsed[0])
        for name in names:
            parsed = parse_segment_file_name(name)
            leftover = name.endswith(_LEFTOVER_SUFFIXES) or (
                parsed is not None and parsed[1] in (INDEX_SUFFIX, TIME_INDEX_SUFFIX) and parsed[0] not in bases
            )
            if leftover:
                log.info("%s: removing leftover %s", self.directory.name, name)
                self.directory.delete(name)
        return sorted(bases)

    def _recover(self, segments: LogSegments, recovery_point: int) -> int:
        """Validate the segments from the one holding recovery_point; returns the bytes cut."""
        cache = self.epoch_cache

        def on_batch(header: BatchHeader) -> None:
            epoch = header.partition_leader_epoch
            if epoch >= 0 and (cache.latest_epoch is None or epoch > cache.latest_epoch):
                cache.assign(epoch, header.base_offset)

        total = 0
        unchecked = segments.from_offset(recovery_point)
        for i, segment in enumerate(unchecked):
            cut = segment.recover(on_batch)
            if cut:
                total += cut
                log.warning(
                    "%s: cut %d bytes of partial or corrupt batches from segment %d",
                    self.directory.name, cut, segment.base_offset,
                )
                for later in unchecked[i + 1 :]:
                    log.warning("%s: deleting segment %d after the cut", self.directory.name, later.base_offset)
                    segments.remove(later)
                    later.delete()
                break
        return total
