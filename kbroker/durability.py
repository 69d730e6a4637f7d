"""flush.messages for an acknowledged append: fsync what the log holds before the answer leaves, on a worker
thread so the event loop keeps serving every other connection meanwhile (Kafka fsyncs in the append itself, on
its request handler thread)."""
from __future__ import annotations

import anyio

from kbroker.log import Log
from kbroker.log.flusher import fsync_paths
from wire.errors import ErrorCode, KafkaError

STORAGE_ERROR_MESSAGE = "Disk error when trying to access log file on the disk."


async def flush_if_due(log: Log) -> None:
    """When flush.messages says so, fsync the log and move its recovery point; KafkaError(KAFKA_STORAGE_ERROR)
    if the fsync fails (the log then takes no more appends: see kbroker.log.recovery_point)."""
    if not log.flush_due:
        return
    prepared = log.prepare_flush()

    def fsync_and_move() -> None:  # the recovery point is thread-safe; its checkpoint is fsynced here too
        try:
            fsync_paths(prepared.paths)
        except OSError as exc:
            log.complete_flush(prepared, exc)
            raise
        log.complete_flush(prepared)

    try:
        await anyio.to_thread.run_sync(fsync_and_move)
    except OSError as exc:
        raise KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, STORAGE_ERROR_MESSAGE) from exc
