"""Inputs `make fuzz` (tests/fuzz) found, replayed: each must be refused with the decoder's own error."""
from __future__ import annotations

import pytest

from wire.codec import DecodeError, decode_request_header

# a flexible request header whose tagged field announces a length past sys.maxsize (io.read raised OverflowError)
HUGE_TAG_LENGTH = bytes.fromhex("002c000110000001000666657a7a00247f0ac3fdeaa6b6c3b0c2851309ab08")


def test_header_tag_length_past_maxsize() -> None:
    with pytest.raises(DecodeError):
        decode_request_header(HUGE_TAG_LENGTH)
