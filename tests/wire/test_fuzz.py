"""Hostile bytes never get past the codecs as anything but DecodeError.

Every request codec in the registry, in every version, is fed random bytes, truncated real frames and bit-flipped
real frames (from shared/vectors): it must decode or raise `wire.codec.DecodeError`, nothing else, and must not
hang. `decode_request_header`, and the header-then-body path a server takes, are held to the same rule.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from collections import defaultdict
from typing import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.vectors import needs_vectors, samples
from wire.codec import DecodeError, decode_request_header, request_codec
from wire.schema import APIS
from wire.schema.dsl import Api

TIME_LIMIT = 2.0  # seconds for one decode; anything near it is a hang in the making

FUZZ = settings(
    max_examples=100,
    deadline=None,  # the time limit below catches hangs without flaking on a slow machine
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


FRAMES = [bytes.fromhex(sample["request_hex"]) for sample in samples()]
# api key -> [(version, body)] of the real frames, the header cut off
BODIES: dict[int, list[tuple[int, bytes]]] = defaultdict(list)
for _frame in FRAMES:
    _header = decode_request_header(_frame)
    BODIES[_header.api_key].append((_header.api_version, _frame[_header.size :]))

APIS_LIST = list(APIS.values())
API_IDS = [f"{api.key}-{api.name}" for api in APIS_LIST]


class Hang(BaseException):
    """Raised by the alarm; a BaseException so that no `except Exception` in the codec can swallow it."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def alarm(signum: int, frame: object) -> None:
        raise Hang(f"decoding took over {seconds}s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def decode_body(api_key: int, version: int, data: bytes) -> None:
    codec = request_codec(api_key, version)  # built (and compiled) outside the time limit
    with time_limit(TIME_LIMIT):
        try:
            codec.decode(data)
        except DecodeError:
            pass


def decode_frame(frame: bytes) -> None:
    """What a server does with a frame: the header, then the body if the API and version are ours."""
    with time_limit(TIME_LIMIT):
        try:
            header = decode_request_header(frame)
        except DecodeError:
            return
    api = APIS.get(header.api_key)
    if api is not None and api.valid[0] <= header.api_version <= api.valid[1]:
        decode_body(header.api_key, header.api_version, frame[header.size :])


def flip(data: bytes, bits: list[int]) -> bytes:
    out = bytearray(data)
    for bit in bits:
        out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@st.composite
def truncated(draw: st.DrawFn, samples: list[tuple[int, bytes]]) -> tuple[int, bytes]:
    version, body = draw(st.sampled_from(samples))
    return version, body[: draw(st.integers(0, max(len(body) - 1, 0)))]


@st.composite
def bit_flipped(draw: st.DrawFn, samples: list[tuple[int, bytes]]) -> tuple[int, bytes]:
    version, body = draw(st.sampled_from([s for s in samples if s[1]]))
    bits = draw(st.lists(st.integers(0, len(body) * 8 - 1), min_size=1, max_size=8))
    return version, flip(body, bits)


# ---------------------------------------------------------------------------------------------------------------
# request bodies


@pytest.mark.parametrize("api", APIS_LIST, ids=API_IDS)
@FUZZ
@given(data=st.data())
def test_random_bytes(api: Api, data: st.DataObject) -> None:
    version = data.draw(st.integers(*api.valid), label="version")
    body = data.draw(st.binary(max_size=300), label="body")
    decode_body(api.key, version, body)


HUGE_LENGTHS = b"\x7f" * 64  # every length read from it (int16, int32 or varint) runs past the end


def _read_from(body: bytes, read: bytes) -> bool:
    """Whether `read` (a decoded message, encoded again) is how `body` begins; a bool reads any non-zero byte as
    true (Kafka's readByte() != 0) and is written back as 1."""
    return len(read) <= len(body) and all(b == r or (r == 1 and b != 0) for b, r in zip(body, read))


@pytest.mark.parametrize("api", APIS_LIST, ids=API_IDS)
def test_every_version_rejects_empty_and_junk(api: Api) -> None:
    """Not left to chance: every version sees no bytes, one zero, runs of 0xff (null or -1 lengths), 0x7f (huge
    lengths) and zeros. Each is refused with DecodeError, unless it starts with a real message: then that message
    is what was decoded (encoding it gives back the bytes it was read from; the rest is trailing bytes, which
    Kafka ignores too). Bytes with nothing to read (the API's body is empty) are the only ones a huge length
    cannot break."""
    for version in range(api.valid[0], api.valid[1] + 1):
        codec = request_codec(api.key, version)
        for body in (b"", b"\x00", b"\xff" * 64, HUGE_LENGTHS, b"\x00" * 64):
            with time_limit(TIME_LIMIT):
                try:
                    decoded = codec.decode(body)
                except DecodeError:
                    continue
            read = codec.encode(decoded)
            assert _read_from(body, read), f"v{version} decoded {body[:8]!r}... into {decoded!r}, which is {read!r}"
            if body in (b"", HUGE_LENGTHS):
                assert read == b"", f"v{version} accepted {body[:8]!r}...: {decoded!r}"


def _with_vectors() -> list[Api]:
    return [api for api in APIS_LIST if any(api.valid[0] <= v <= api.valid[1] for v, _ in BODIES.get(api.key, []))]


def _samples(api: Api) -> list[tuple[int, bytes]]:
    return [(v, body) for v, body in BODIES[api.key] if api.valid[0] <= v <= api.valid[1]]


VECTOR_APIS = _with_vectors()
VECTOR_IDS = [f"{api.key}-{api.name}" for api in VECTOR_APIS]


@needs_vectors
@pytest.mark.parametrize("api", VECTOR_APIS, ids=VECTOR_IDS)
@FUZZ
@given(data=st.data())
def test_truncated_real_bodies(api: Api, data: st.DataObject) -> None:
    version, body = data.draw(truncated(_samples(api)), label="truncated body")
    decode_body(api.key, version, body)


@needs_vectors
@pytest.mark.parametrize("api", VECTOR_APIS, ids=VECTOR_IDS)
@FUZZ
@given(data=st.data())
def test_bit_flipped_real_bodies(api: Api, data: st.DataObject) -> None:
    version, body = data.draw(bit_flipped(_samples(api)), label="flipped body")
    decode_body(api.key, version, body)


@needs_vectors
@pytest.mark.parametrize("api", VECTOR_APIS, ids=VECTOR_IDS)
def test_every_prefix_of_one_real_body(api: Api) -> None:
    """Exhaustive for one frame per API: each proper prefix of its body."""
    version, body = max(_samples(api), key=lambda s: len(s[1]))
    for cut in range(min(len(body), 4096)):
        decode_body(api.key, version, body[:cut])


# ---------------------------------------------------------------------------------------------------------------
# request header (and the header-then-body path)


@settings(FUZZ, max_examples=500)
@given(frame=st.binary(max_size=200))
def test_header_random_bytes(frame: bytes) -> None:
    decode_frame(frame)


@settings(FUZZ, max_examples=500)
@given(
    key=st.sampled_from(sorted(APIS) + [-1, 10_000]),
    version=st.integers(-2, 20),
    tail=st.binary(max_size=200),
)
def test_header_plausible_prefix(key: int, version: int, tail: bytes) -> None:
    """A known api key and version up front, so random bytes reach the client id, tag section and body."""
    prefix = key.to_bytes(2, "big", signed=True) + version.to_bytes(2, "big", signed=True) + b"\x00\x00\x00\x01"
    decode_frame(prefix + tail)


@needs_vectors
@settings(FUZZ, max_examples=500)
@given(data=st.data())
def test_header_truncated_and_flipped_frames(data: st.DataObject) -> None:
    frame = data.draw(st.sampled_from(FRAMES), label="frame")
    if data.draw(st.booleans(), label="truncate"):
        frame = frame[: data.draw(st.integers(0, len(frame) - 1), label="cut")]
    else:
        bits = data.draw(st.lists(st.integers(0, len(frame) * 8 - 1), min_size=1, max_size=8), label="bits")
        frame = flip(frame, bits)
    decode_frame(frame)


def test_header_bad_frames_raise_decode_error() -> None:
    bad = [bytes(n) for n in range(10)]  # shorter than key, version, correlation id and client id length
    bad.append(bytes(8) + b"\x7f\xff")  # a client id longer than the frame
    bad.append(bytes(8) + b"\xff\xfe")  # a client id of length -2
    bad.append(bytes(8) + b"\x00\x02\xc3\x28")  # a client id that is not UTF-8
    bad.append(b"\x00\x12\x00\x03" + bytes(4) + b"\x00\x00")  # flexible ApiVersions v3 with no tag section
    for frame in bad:
        with pytest.raises(DecodeError):
            decode_request_header(frame)
