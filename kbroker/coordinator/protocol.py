"""The embedded consumer protocol (protocol type "consumer") as far as the coordinator reads it.

A classic consumer's JoinGroup metadata is a ConsumerProtocolSubscription: int16 version, then (in every version,
so the v0 prefix is enough) an int32-counted array of int16-length topic names. The coordinator reads only the
topics, to know which topics a group is subscribed to (OffsetDelete, offsets expiry).
"""
from __future__ import annotations

import struct

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")


def subscribed_topics(metadata: bytes | None) -> set[str] | None:
    """The topics of a ConsumerProtocolSubscription, or None if it does not parse."""
    if not metadata:
        return None
    try:
        pos = 2  # version
        (count,) = _I32.unpack_from(metadata, pos)
        pos += 4
        if count < 0 or count > len(metadata):
            return None
        topics = set()
        for _ in range(count):
            (n,) = _I16.unpack_from(metadata, pos)
            pos += 2
            if n < 0 or pos + n > len(metadata):
                return None
            topics.add(bytes(metadata[pos : pos + n]).decode("utf-8"))
            pos += n
        return topics
    except (struct.error, UnicodeDecodeError):
        return None


def encode_assignment(partitions: dict[str, list[int]], user_data: bytes | None = None, version: int = 0) -> bytes:
    """A ConsumerProtocolAssignment (v0 layout, which every version starts with)."""
    out = bytearray(_I16.pack(version))
    out += _I32.pack(len(partitions))
    for topic, parts in partitions.items():
        name = topic.encode("utf-8")
        out += _I16.pack(len(name)) + name + _I32.pack(len(parts))
        for p in parts:
            out += _I32.pack(p)
    if user_data is None:
        out += _I32.pack(-1)
    else:
        out += _I32.pack(len(user_data)) + user_data
    return bytes(out)
