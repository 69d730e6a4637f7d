"""Client telemetry (KIP-714): which metrics a client is asked to push, and what it pushed.

GetTelemetrySubscriptions matches the client against every client-metrics subscription (configs.py); the
answer asks for the union of their metric prefixes at the shortest of their intervals, with a subscription id
that changes whenever that answer would. PushTelemetry checks the subscription id, the interval (a push much
earlier than asked is THROTTLING_QUOTA_EXCEEDED), the size and the compression, decodes the OTLP payload and
keeps the latest value of each data point; kbroker's Prometheus endpoint exports them as
`kbroker_client_metric{client_instance_id, client_id, metric, attributes}`. A client instance is forgotten
three push intervals after it was last heard of (its last GetTelemetrySubscriptions or push: one that never
pushes goes too), a terminating push forgets it at once, and at most MAX_CLIENTS are kept (the one heard of
longest ago makes room), as Kafka's client-metrics cache is bounded.
"""
from __future__ import annotations

import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any, Iterable

from kbroker.telemetry import configs
from kbroker.telemetry.otlp import decode_metrics
from kbroker.per_broker import per_broker
from wire import compression
from wire.errors import ErrorCode, KafkaError

ACCEPTED_COMPRESSION = [4, 3, 1, 2]  # zstd, lz4, gzip, snappy: Kafka's order
TELEMETRY_MAX_BYTES = 1048576
MAX_CLIENTS = 16384


@dataclass
class ClientInstance:
    client_instance_id: bytes
    client_id: str
    subscription_id: int
    interval_ms: int
    metrics: list[str]
    last_push_ms: int = 0
    last_seen_ms: int = 0  # its last GetTelemetrySubscriptions or push: what expiry counts from
    values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)


def _now_ms() -> int:
    return int(time.time() * 1000)


class ClientTelemetry:
    def __init__(self, broker: Any) -> None:
        self.broker = broker
        self.clients: dict[bytes, ClientInstance] = {}
        self._collector_registered = False

    # -- subscriptions

    def _matching(self, selectors: dict[str, str]) -> tuple[list[str], int]:
        metrics: list[str] = []
        interval = None
        for name, values in sorted(configs.stored(self.broker).items()):
            wanted = configs.split(values.get("metrics"))
            if not wanted:
                continue
            try:
                patterns = configs.parse_match(configs.split(values.get("match")))
            except KafkaError:
                continue
            if all(p.fullmatch(selectors.get(s, "")) for s, p in patterns.items()):
                metrics.extend(m for m in wanted if m not in metrics)
                this = int(values.get("interval.ms") or configs.DEFAULT_INTERVAL_MS)
                interval = this if interval is None else min(interval, this)
        if "*" in metrics:
            metrics = ["*"]
        return sorted(metrics), interval or configs.DEFAULT_INTERVAL_MS

    def subscribe(self, client_instance_id: bytes, selectors: dict[str, str]) -> dict:
        self.expire()
        if client_instance_id == bytes(16):
            client_instance_id = uuid.uuid4().bytes
        selectors = {**selectors, "client_instance_id": str(uuid.UUID(bytes=client_instance_id))}
        metrics, interval = self._matching(selectors)
        subscription_id = zlib.crc32(repr((metrics, interval, client_instance_id)).encode()) & 0x7FFFFFFF
        known = self.clients.get(client_instance_id)
        instance = ClientInstance(client_instance_id, selectors.get("client_id", ""), subscription_id, interval,
                                  metrics, last_seen_ms=_now_ms())
        if known is not None:
            instance.last_push_ms, instance.values = known.last_push_ms, known.values
        elif len(self.clients) >= MAX_CLIENTS:
            oldest = min(self.clients.values(), key=lambda c: c.last_seen_ms)
            del self.clients[oldest.client_instance_id]
        self.clients[client_instance_id] = instance
        return {"client_instance_id": client_instance_id, "subscription_id": subscription_id,
                "accepted_compression_types": ACCEPTED_COMPRESSION, "push_interval_ms": interval,
                "telemetry_max_bytes": TELEMETRY_MAX_BYTES, "delta_temporality": False, "requested_metrics": metrics}

    # -- pushes

    def push(self, client_instance_id: bytes, subscription_id: int, terminating: bool, compression_type: int,
             payload: bytes) -> int:
        now = _now_ms()
        client = self.clients.get(client_instance_id)
        if client is not None and self._expired(client, now):
            del self.clients[client_instance_id]
            client = None
        if client is None or client.subscription_id != subscription_id:
            return ErrorCode.UNKNOWN_SUBSCRIPTION_ID
        if not terminating and client.last_push_ms and now - client.last_push_ms < client.interval_ms // 2:
            return ErrorCode.THROTTLING_QUOTA_EXCEEDED
        if len(payload) > TELEMETRY_MAX_BYTES:
            return ErrorCode.TELEMETRY_TOO_LARGE
        if compression_type not in (0, *ACCEPTED_COMPRESSION):
            return ErrorCode.UNSUPPORTED_COMPRESSION_TYPE
        client.last_push_ms = client.last_seen_ms = now
        try:
            data = compression.decompress(compression_type, payload, TELEMETRY_MAX_BYTES * 16) \
                if compression_type else bytes(payload)
            points = decode_metrics(data)
        except Exception:  # a payload we cannot read: Kafka answers INVALID_RECORD
            return ErrorCode.INVALID_RECORD
        for p in points:
            client.values[(p.name, tuple(sorted(p.attributes.items())))] = p.value
        if terminating:
            self.clients.pop(client_instance_id, None)
        self._register_collector()
        return ErrorCode.NONE

    @staticmethod
    def _expired(client: ClientInstance, now: int) -> bool:
        return now - client.last_seen_ms > 3 * client.interval_ms

    def expire(self) -> None:
        now = _now_ms()
        for cid, client in list(self.clients.items()):
            if self._expired(client, now):
                del self.clients[cid]

    # -- Prometheus

    def _register_collector(self) -> None:
        metrics = getattr(self.broker, "metrics", None)
        if metrics is None or self._collector_registered:
            return
        metrics.registry.register(_Collector(self))
        self._collector_registered = True


class _Collector:
    def __init__(self, telemetry: ClientTelemetry) -> None:
        self.telemetry = telemetry

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import GaugeMetricFamily

        self.telemetry.expire()
        family = GaugeMetricFamily("kbroker_client_metric", "Latest value of each metric clients pushed (KIP-714), "
                                   "by client instance; OTLP attributes as k=v pairs.",
                                   labels=["client_instance_id", "client_id", "metric", "attributes"])
        for client in list(self.telemetry.clients.values()):
            cid = str(uuid.UUID(bytes=client.client_instance_id))
            for (name, attrs), value in list(client.values.items()):
                family.add_metric([cid, client.client_id, name, ",".join(f"{k}={v}" for k, v in attrs)], value)
        yield family


def client_telemetry(broker: Any) -> ClientTelemetry:
    return per_broker(broker, "client_telemetry", ClientTelemetry)


def enabled(broker: Any) -> bool:
    """Telemetry APIs are served when the broker has a metrics endpoint to export to, as Kafka serves them only
    with a client-telemetry metrics reporter configured."""
    return getattr(broker, "metrics", None) is not None
