"""Just enough of the protobuf wire format to read the OTLP MetricsData that clients push (KIP-714).

Reads ResourceMetrics → ScopeMetrics → Metric (gauge, sum; a histogram as its count and sum) →
NumberDataPoint with its attributes, and the resource's attributes. Unknown fields are skipped, as protobuf
readers do. Raises ValueError on a malformed message.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Iterator

_F64 = struct.Struct("<d")
_I64 = struct.Struct("<q")


@dataclass
class DataPoint:
    name: str
    value: float
    attributes: dict[str, str] = field(default_factory=dict)


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("bad varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def fields(buf: memoryview) -> Iterator[tuple[int, int, object]]:
    """(field number, wire type, value): ints for varint, bytes-like for length-delimited, raw 8/4 bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos: pos + 8], pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos: pos + size], pos + size
        elif wire == 5:
            value, pos = buf[pos: pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > len(buf):
            raise ValueError("truncated message")
        yield number, wire, value


def _text(value: object) -> str:
    return bytes(value).decode("utf-8", "replace")  # type: ignore[arg-type]


def _any_value(buf: memoryview) -> str:
    for number, wire, value in fields(buf):
        if number == 1 and wire == 2:
            return _text(value)
        if number == 2 and wire == 0:
            return "true" if value else "false"
        if number == 3 and wire == 0:
            v = int(value)  # type: ignore[arg-type]
            return str(v - (1 << 64) if v >= 1 << 63 else v)
        if number == 4 and wire == 1:
            return repr(_F64.unpack(bytes(value))[0])  # type: ignore[arg-type]
    return ""


def _attributes(values: list[memoryview]) -> dict[str, str]:
    out = {}
    for kv in values:
        key, val = "", ""
        for number, wire, value in fields(kv):
            if number == 1 and wire == 2:
                key = _text(value)
            elif number == 2 and wire == 2:
                val = _any_value(value)  # type: ignore[arg-type]
        if key:
            out[key] = val
    return out


def _number_point(buf: memoryview) -> tuple[float | None, dict[str, str]]:
    value: float | None = None
    attrs: list[memoryview] = []
    for number, wire, v in fields(buf):
        if number == 4 and wire == 1:
            value = _F64.unpack(bytes(v))[0]  # type: ignore[arg-type]
        elif number == 6 and wire == 1:
            value = float(_I64.unpack(bytes(v))[0])  # type: ignore[arg-type]
        elif number == 7 and wire == 2:
            attrs.append(v)  # type: ignore[arg-type]
    return value, _attributes(attrs)


def _histogram_points(buf: memoryview) -> Iterator[tuple[str, float, dict[str, str]]]:
    for number, wire, point in fields(buf):
        if number != 1 or wire != 2:
            continue
        count, total, attrs = None, None, []
        for n, w, v in fields(point):  # type: ignore[arg-type]
            if n == 4 and w == 1:
                count = float(_I64.unpack(bytes(v))[0])  # type: ignore[arg-type]
            elif n == 5 and w == 1:
                total = _F64.unpack(bytes(v))[0]  # type: ignore[arg-type]
            elif n == 9 and w == 2:
                attrs.append(v)
        labels = _attributes(attrs)
        if count is not None:
            yield "_count", count, labels
        if total is not None:
            yield "_sum", total, labels


def _metric(buf: memoryview, resource: dict[str, str]) -> Iterator[DataPoint]:
    name = ""
    points: list[tuple[str, float, dict[str, str]]] = []
    for number, wire, value in fields(buf):
        if number == 1 and wire == 2:
            name = _text(value)
        elif number in (5, 7) and wire == 2:  # gauge, sum: repeated NumberDataPoint data_points = 1
            for n, w, point in fields(value):  # type: ignore[arg-type]
                if n == 1 and w == 2:
                    v, attrs = _number_point(point)  # type: ignore[arg-type]
                    if v is not None:
                        points.append(("", v, attrs))
        elif number == 9 and wire == 2:  # histogram: its count and sum
            points.extend(_histogram_points(value))  # type: ignore[arg-type]
    for suffix, v, attrs in points:
        yield DataPoint(name + suffix, v, {**resource, **attrs})


def decode_metrics(data: bytes) -> list[DataPoint]:
    """Every data point of an OTLP MetricsData message."""
    out: list[DataPoint] = []
    for number, wire, rm in fields(memoryview(data)):
        if number != 1 or wire != 2:
            continue
        resource: dict[str, str] = {}
        scopes = []
        for n, w, v in fields(rm):  # type: ignore[arg-type]
            if n == 1 and w == 2:
                kvs = [a for an, aw, a in fields(v) if an == 1 and aw == 2]  # type: ignore[arg-type]
                resource = _attributes(kvs)  # type: ignore[arg-type]
            elif n == 2 and w == 2:
                scopes.append(v)
        for scope in scopes:
            for n, w, metric in fields(scope):  # type: ignore[arg-type]
                if n == 2 and w == 2:
                    out.extend(_metric(metric, resource))  # type: ignore[arg-type]
    return out
