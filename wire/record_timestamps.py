"""Record timestamps of a v2 batch without decoding its records: whether a batch header's maxTimestamp can be
trusted, and the records' timestamps read by skipping keys, values and headers (Kafka's skipKeyValueIterator).

The produce path stores each batch's maxTimestamp as its records' largest timestamp, as Kafka's LogValidator
does; these let it stay at batch level for every well-behaved client and read only the timestamps otherwise.
"""
from __future__ import annotations

from wire.records import MIN_RECORD_SIZE, NO_TIMESTAMP, BatchHeader, InvalidRecordError, read_varint, records_data


def max_timestamp_trusted(header: BatchHeader) -> bool:
    """Whether a CreateTime batch's maxTimestamp can be taken as its records' largest timestamp without decoding
    them. Kafka always recomputes it (LogValidator); kbroker recomputes only where the header cannot be right:
    a base timestamp below 0 (records without timestamps: librdkafka sends those under maxTimestamp 0), a
    maxTimestamp below the base, or a one-record batch whose maxTimestamp is not its base timestamp. Producers
    write baseTimestamp as the first record's timestamp and maxTimestamp as the largest, so every batch of a
    well-behaved client is trusted and the produce path stays at batch level."""
    base = header.base_timestamp
    top = header.max_timestamp
    if base < 0 or top < base:
        return False
    return top == base or header.record_count > 1


def records_max_timestamp(buf: bytes | bytearray | memoryview, pos: int = 0) -> int:
    """The largest record timestamp of the batch at pos as Kafka stores it in maxTimestamp: -1 if the batch has no
    record with a timestamp above -1."""
    found = record_timestamp_range(buf, pos)
    return max(found[1], NO_TIMESTAMP) if found else NO_TIMESTAMP


def record_timestamp_range(buf: bytes | bytearray | memoryview, pos: int = 0) -> tuple[int, int] | None:
    """(smallest, largest) timestamp of the records of the batch at pos that have one (not -1); None if none has.

    Reads each record's length and timestamp delta only, skipping keys, values and headers (a compressed batch
    is decompressed first), as Kafka's skipKeyValueIterator does. InvalidRecordError when the records do not fit
    the batch or its record count."""
    header, data = records_data(buf, pos)
    base = header.base_timestamp
    low = high = None
    p = 0
    end = len(data)
    try:
        for _ in range(header.record_count):
            b = data[p]  # the record's length, inline for one- and two-byte varints (the hot case)
            if b < 0x80:
                length, p = (b >> 1) ^ -(b & 1), p + 1
            elif data[p + 1] < 0x80:
                z = (b & 0x7F) | (data[p + 1] << 7)
                length, p = (z >> 1) ^ -(z & 1), p + 2
            else:
                length, p = read_varint(data, p)
            if length < MIN_RECORD_SIZE - 1 or p + length > end:
                raise InvalidRecordError(f"record length {length} does not fit the data")
            b = data[p + 1]  # the timestamp delta, after the attributes byte
            timestamp = base + ((b >> 1) ^ -(b & 1) if b < 0x80 else read_varint(data, p + 1)[0])
            p += length
            if timestamp == NO_TIMESTAMP:
                continue
            if high is None:
                low = high = timestamp
            elif timestamp > high:
                high = timestamp
            elif timestamp < low:  # type: ignore[operator]
                low = timestamp
    except IndexError:
        raise InvalidRecordError(f"batch declares {header.record_count} records but holds fewer") from None
    if p != end:
        raise InvalidRecordError(f"batch declares {header.record_count} records but holds other data")
    return None if high is None else (low, high)  # type: ignore[return-value]
