"""wire.record_timestamps: when a batch's maxTimestamp is trusted, and the records' timestamps read without
decoding keys and values agree with a full decode for every codec."""
from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wire.record_timestamps import max_timestamp_trusted, record_timestamp_range, records_max_timestamp
from wire.records import HEADER_SIZE, InvalidRecordError, Record, build_batch, decode_records, parse_header

CODECS = [0, 1, 2, 3, 4]


@pytest.mark.parametrize("codec", CODECS)
@given(deltas=st.lists(st.integers(-2**40, 2**40), min_size=1, max_size=40),
       base=st.sampled_from([-1, 0, 1_700_000_000_000]), big=st.booleans())
@settings(max_examples=40, deadline=None)
def test_record_timestamp_range_matches_a_full_decode(codec: int, deltas: list[int], base: int, big: bool) -> None:
    value = b"v" * (300 if big else 3)  # one- and two-byte record lengths
    data = build_batch([Record(i, d, b"k", value, [("h", b"x")]) for i, d in enumerate(deltas)],
                       base_timestamp=base, compression=codec)
    stamps = [base + r.timestamp_delta for r in decode_records(data)]
    real = [t for t in stamps if t != -1]
    assert record_timestamp_range(data) == ((min(real), max(real)) if real else None)
    assert records_max_timestamp(data) == max([-1, *stamps])


def test_max_timestamp_trusted() -> None:
    def header(base: int, top: int, count: int = 2):  # type: ignore[no-untyped-def]
        records = [Record(i, 0, b"k", b"v") for i in range(count)]
        return parse_header(build_batch(records, base_timestamp=base, max_timestamp=top))

    assert max_timestamp_trusted(header(1000, 1005))
    assert max_timestamp_trusted(header(1000, 1000, count=1))
    assert not max_timestamp_trusted(header(-1, 0))  # librdkafka, timestamp -1
    assert not max_timestamp_trusted(header(1000, -1))  # sarama 1.22
    assert not max_timestamp_trusted(header(1000, 999))
    assert not max_timestamp_trusted(header(1000, 1003, count=1))


def test_record_timestamp_range_refuses_records_that_do_not_fit() -> None:
    data = bytearray(build_batch([Record(i, 0, b"k", b"v") for i in range(3)], base_timestamp=5))
    struct.pack_into(">i", data, HEADER_SIZE - 4, 4)  # recordCount 4: one more than there is
    with pytest.raises(InvalidRecordError):
        record_timestamp_range(data)
    struct.pack_into(">i", data, HEADER_SIZE - 4, 2)  # one fewer: bytes left over
    with pytest.raises(InvalidRecordError):
        record_timestamp_range(data)
