"""The four compression codecs of Kafka record batches, with a bound on decompressed size.

Codec ids are those of the batch attributes (bits 0-2): 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.

One library per codec, chosen for a decompression whose output can be capped *while* it is produced, so that a
small hostile batch cannot make the broker allocate gigabytes before the size check runs:

- gzip -> the standard library's ``zlib`` (``decompressobj(...).decompress(data, max_length)`` is bounded,
  and it exposes ``unused_data`` so concatenated gzip members, which Java's GZIPInputStream reads, work too).
- snappy -> ``cramjam`` (maintained Rust bindings of the reference snappy crate; python-snappy is not
  installed). Raw snappy states its uncompressed length in a varint preamble, checked before decompressing,
  so the output is bounded exactly. Xerial framing (Java clients) is parsed here: 16-byte header, then blocks
  of big-endian int32 length + raw snappy.
- lz4 -> ``lz4.frame`` (python-lz4, the lz4 organisation's binding): ``LZ4FrameDecompressor.decompress`` takes
  ``max_length``, and compression exposes the frame flags Kafka's Java reader needs (independent blocks: the
  Java reader decompresses each block with no dictionary; no content size; no content checksum; 64 KiB blocks).
- zstd -> ``zstandard`` (python-zstandard): ``stream_reader`` decompresses frames with or without a content
  size (streaming producers omit it) in bounded reads and crosses frame boundaries. It returns short output
  instead of failing on a truncated frame, so the frames are first walked here (block headers only) to check
  that the input is whole.

cramjam also offers lz4 and zstd, but its one-shot decompressors have no output cap.

Legacy lz4 (magic 0 message sets written by Kafka clients before 0.10) carries a frame-descriptor checksum
computed over the wrong bytes; python-lz4 rejects it and so do we (InvalidRecordError). Kafka's Java reader
ignores that byte for magic 0. Not handled: no client in use today writes it.
"""
from __future__ import annotations

import functools
import struct
import zlib

import cramjam
import lz4.frame
import zstandard

from wire.records import InvalidRecordError, UnsupportedCompressionTypeError

NONE = 0
GZIP = 1
SNAPPY = 2
LZ4 = 3
ZSTD = 4
CODECS = {NONE: "none", GZIP: "gzip", SNAPPY: "snappy", LZ4: "lz4", ZSTD: "zstd"}

DEFAULT_MAX_SIZE = 128 * 1024 * 1024
"""Default cap on decompressed bytes: far above any batch a default broker accepts (1 MiB compressed)
decompressed at sane ratios, far below what would hurt the process."""

XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_HEADER = struct.Struct(">8sii")
_XERIAL_BLOCK = 32 * 1024  # what snappy-java's SnappyOutputStream uses by default
_INT32 = struct.Struct(">i")
_GZIP_MAGIC = b"\x1f\x8b"
_LZ4_MAGIC = b"\x04\x22\x4d\x18"
_ZSTD_MAGIC = 0xFD2FB528
DEFAULT_LEVELS = {GZIP: -1, LZ4: 9, ZSTD: 3}
"""Kafka's default levels (KIP-390: compression.gzip.level, compression.lz4.level, compression.zstd.level)."""


@functools.lru_cache(maxsize=32)
def _zstd_compressor(level: int) -> zstandard.ZstdCompressor:
    return zstandard.ZstdCompressor(level=level)  # thread-safe for compress()


def _lz4_level(level: int) -> int:
    """Kafka's lz4 levels 1-17: 1 is the fast compressor, the others lz4 HC at that level (the library caps HC
    at its own maximum)."""
    return 0 if level <= 1 else level


def compress(codec: int, data: bytes | bytearray | memoryview, level: int | None = None) -> bytes:
    """Compress data the way the Java client does, so that every client can read it back; level as Kafka's
    compression.<codec>.level (None: Kafka's default for the codec; snappy has none)."""
    if codec == NONE:
        return bytes(data)
    if level is None:
        level = DEFAULT_LEVELS.get(codec, 0)
    if codec == GZIP:
        c = zlib.compressobj(level, zlib.DEFLATED, 31)  # -1: zlib's default, 6, as Java's Deflater
        return c.compress(data) + c.flush()
    if codec == SNAPPY:
        return _xerial_compress(memoryview(data))
    if codec == LZ4:
        return lz4.frame.compress(
            data,
            compression_level=_lz4_level(level),
            block_size=lz4.frame.BLOCKSIZE_MAX64KB,
            block_linked=False,
            content_checksum=False,
            store_size=False,
        )
    if codec == ZSTD:
        return _zstd_compressor(level).compress(data)
    raise ValueError(f"unknown compression codec {codec}")


def decompress(codec: int, data: bytes | bytearray | memoryview, max_size: int = DEFAULT_MAX_SIZE) -> bytes:
    """Decompress data; InvalidRecordError if it is malformed, truncated or would exceed max_size bytes,
    UnsupportedCompressionTypeError (an InvalidRecordError) for a codec id other than 0-4."""
    if codec == NONE:
        if len(data) > max_size:
            raise InvalidRecordError(f"data larger than {max_size} bytes")
        return bytes(data)
    try:
        if codec == GZIP:
            return _gunzip(data, max_size)
        if codec == SNAPPY:
            return _unsnappy(memoryview(data), max_size)
        if codec == LZ4:
            return _unlz4(data, max_size)
        if codec == ZSTD:
            return _unzstd(memoryview(data), max_size)
    except InvalidRecordError:
        raise
    except Exception as exc:  # each library has its own error types; all mean "bad input" here
        raise InvalidRecordError(f"{CODECS[codec]}: cannot decompress: {exc}") from exc
    raise UnsupportedCompressionTypeError(f"unknown compression codec {codec}")


def _too_big(codec: str, max_size: int) -> InvalidRecordError:
    return InvalidRecordError(f"{codec}: decompressed data exceeds {max_size} bytes")


# -- gzip --------------------------------------------------------------------------------------------------------


def _gunzip(data: bytes | bytearray | memoryview, max_size: int) -> bytes:
    out: list[bytes] = []
    total = 0
    pending = bytes(data)
    if not pending:
        raise InvalidRecordError("gzip: empty input")
    while True:  # one gzip member per turn
        d = zlib.decompressobj(31)
        while not d.eof:
            chunk = d.decompress(pending, max_size + 1 - total)  # >= 1: 0 would mean "no limit"
            pending = d.unconsumed_tail
            total += len(chunk)
            if total > max_size:
                raise _too_big("gzip", max_size)
            out.append(chunk)
            if not chunk and not pending and not d.eof:
                raise InvalidRecordError("gzip: truncated stream")
        rest = d.unused_data
        if rest[:2] != _GZIP_MAGIC:
            break  # like GZIPInputStream, ignore trailing bytes that do not start another member
        pending = rest
    return b"".join(out)


# -- snappy ------------------------------------------------------------------------------------------------------


def _xerial_compress(data: memoryview) -> bytes:
    parts = [_XERIAL_HEADER.pack(XERIAL_MAGIC, 1, 1)]
    for start in range(0, len(data), _XERIAL_BLOCK):
        block = bytes(cramjam.snappy.compress_raw(data[start : start + _XERIAL_BLOCK]))
        parts.append(_INT32.pack(len(block)))
        parts.append(block)
    return b"".join(parts)


def _snappy_raw_length(block: memoryview) -> int:
    """The uncompressed length a raw snappy block declares in its varint preamble."""
    result = shift = 0
    for i in range(min(5, len(block))):
        b = block[i]
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result
        shift += 7
    raise InvalidRecordError("snappy: bad length preamble")


def _unsnappy_raw(block: memoryview, budget: int) -> bytes:
    n = _snappy_raw_length(block)
    if n > budget:
        raise InvalidRecordError("snappy: decompressed data exceeds the size limit")
    out = bytes(cramjam.snappy.decompress_raw(block))
    if len(out) != n:
        raise InvalidRecordError("snappy: length differs from the declared one")
    return out


def _unsnappy(data: memoryview, max_size: int) -> bytes:
    if data[: len(XERIAL_MAGIC)] != XERIAL_MAGIC:
        return _unsnappy_raw(data, max_size)
    if len(data) < _XERIAL_HEADER.size:
        raise InvalidRecordError("snappy: truncated xerial header")
    pos = _XERIAL_HEADER.size  # version and compatible-version ints: every version so far reads alike
    out: list[bytes] = []
    total = 0
    end = len(data)
    while pos < end:
        if end - pos < 4:
            raise InvalidRecordError("snappy: truncated xerial block length")
        (n,) = _INT32.unpack_from(data, pos)
        pos += 4
        if n < 0 or n > end - pos:
            raise InvalidRecordError("snappy: xerial block overruns the data")
        if n:
            block = _unsnappy_raw(data[pos : pos + n], max_size - total)
            total += len(block)
            out.append(block)
        pos += n
    return b"".join(out)


# -- lz4 ---------------------------------------------------------------------------------------------------------


def _unlz4(data: bytes | bytearray | memoryview, max_size: int) -> bytes:
    out: list[bytes] = []
    total = 0
    pending = bytes(data)
    if not pending:
        raise InvalidRecordError("lz4: empty input")
    while True:  # one frame per turn
        d = lz4.frame.LZ4FrameDecompressor()
        chunk = d.decompress(pending, max_length=max_size + 1 - total)
        while True:
            total += len(chunk)
            if total > max_size:
                raise _too_big("lz4", max_size)
            out.append(chunk)
            if d.eof or d.needs_input:
                break
            chunk = d.decompress(b"", max_length=max_size + 1 - total)
        if not d.eof:
            raise InvalidRecordError("lz4: truncated frame")
        rest = d.unused_data or b""
        if not rest:
            break
        if rest[:4] != _LZ4_MAGIC:
            raise InvalidRecordError("lz4: trailing bytes after the frame")
        pending = rest
    return b"".join(out)


# -- zstd --------------------------------------------------------------------------------------------------------


def _zstd_check_frames(data: memoryview) -> None:
    """Walk zstd frames by their headers and block headers; InvalidRecordError unless data is whole frames."""
    pos = 0
    end = len(data)
    if not end:
        raise InvalidRecordError("zstd: empty input")
    while pos < end:
        if end - pos < 4:
            raise InvalidRecordError("zstd: truncated frame")
        magic = int.from_bytes(data[pos : pos + 4], "little")
        if magic & 0xFFFFFFF0 == 0x184D2A50:  # skippable frame
            if end - pos < 8:
                raise InvalidRecordError("zstd: truncated skippable frame")
            pos += 8 + int.from_bytes(data[pos + 4 : pos + 8], "little")
            continue
        if magic != _ZSTD_MAGIC:
            raise InvalidRecordError("zstd: bad frame magic")
        pos += 4
        if pos >= end:
            raise InvalidRecordError("zstd: truncated frame header")
        fhd = data[pos]
        fcs_flag = fhd >> 6
        single_segment = (fhd >> 5) & 1
        checksum = (fhd >> 2) & 1
        dict_id_size = (0, 1, 2, 4)[fhd & 3]
        fcs_size = (1 if single_segment else 0, 2, 4, 8)[fcs_flag]
        pos += 1 + (0 if single_segment else 1) + dict_id_size + fcs_size
        while True:
            if end - pos < 3:
                raise InvalidRecordError("zstd: truncated block")
            bh = int.from_bytes(data[pos : pos + 3], "little")
            pos += 3
            last = bh & 1
            btype = (bh >> 1) & 3
            size = bh >> 3
            if btype == 3:
                raise InvalidRecordError("zstd: reserved block type")
            pos += 1 if btype == 1 else size
            if pos > end:
                raise InvalidRecordError("zstd: truncated block")
            if last:
                break
        pos += 4 if checksum else 0
    if pos != end:
        raise InvalidRecordError("zstd: truncated frame")


def _unzstd(data: memoryview, max_size: int) -> bytes:
    _zstd_check_frames(data)
    out = bytearray()
    step = 1 << 20
    with zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True) as reader:
        while True:
            chunk = reader.read(min(step, max_size + 1 - len(out)))
            if not chunk:
                break
            out += chunk
            if len(out) > max_size:
                raise _too_big("zstd", max_size)
    return bytes(out)
