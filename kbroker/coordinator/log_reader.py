"""Reading a coordinator's records back from a partition log: the one loop that every coordinator store's replay
(and the transaction coordinator's recovery of pending offsets) shares, so that chunked reads, the end condition
and unreadable batches are handled the same way everywhere.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Iterator

from wire import records as rec

log = logging.getLogger(__name__)

READ_CHUNK = 1 << 20


def read_records(plog: Any, start: int, skip: Callable[[rec.BatchHeader, int], bool],
                 label: str | None = None) -> Iterator[rec.Record]:
    """The records of the batches of plog from offset start up to its end (as it was when reading began), oldest
    first. skip(header, read offset) leaves a batch out; an unreadable batch is left out too, with a warning
    naming label (e.g. "__consumer_offsets-3") when one is given."""
    offset, end = start, plog.log_end_offset
    while offset < end:
        info = plog.read(offset, READ_CHUNK, min_one_batch=True)
        if not info.records or info.next_offset <= offset:
            break
        data = memoryview(info.records)
        for position, header in rec.iter_batches(data):
            if skip(header, offset):
                continue
            try:
                records = rec.decode_records(data[position : position + header.size])
            except (rec.CorruptRecordError, rec.InvalidRecordError) as exc:
                if label is not None:
                    log.warning("skipping an unreadable batch of %s at %d: %s", label, header.base_offset, exc)
                continue
            yield from records
        offset = info.next_offset
