"""Prometheus metrics of one broker (`kbroker serve --metrics-listen HOST:PORT`, needs `kbroker[metrics]`).

Two sources:
- **per request**, from dispatch (`observe_request`): request rate and latency per API and version, request and
  response bytes per API, and messages/bytes in and out per topic, read from the decoded Produce requests (the
  partitions the response reports as appended) and from the Fetch responses (the batches sent).
- **at scrape time**, a custom collector reads the broker's state: partition offsets and sizes, consumer-group
  committed offsets and lag (high watermark − committed offset, as `kafka-consumer-groups` and AdminClient users
  compute it), active connections, faults injected.

Every metric lives in this broker's own registry (several in-process brokers may share a process) and the
scrape runs on the broker's event loop (kbroker.control serves it there), so it sees a consistent state.
"""
from __future__ import annotations

import logging
import struct
from bisect import bisect_left
from typing import TYPE_CHECKING, Any, Iterable

from kbroker import __version__
from wire.schema import APIS

if TYPE_CHECKING:
    from kbroker.broker import Broker

log = logging.getLogger(__name__)

_I32 = struct.Struct(">i")
_I16 = struct.Struct(">h")
NO_UUID = bytes(16)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def available() -> bool:
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        return False
    return True


def count_records(records: bytes | memoryview | None) -> tuple[int, int]:
    """(records, bytes) of a record set as it travels in Produce and Fetch: v2 batches (control batches are not
    records) or legacy message sets (one per message, a compressed wrapper counting as one). A trailing partial
    batch (Fetch may cut one) counts in bytes only."""
    if not records:
        return 0, 0
    size = len(records)
    count = 0
    pos = 0
    while pos + 17 <= size:
        length = _I32.unpack_from(records, pos + 8)[0]
        end = pos + 12 + length
        if length <= 0 or end > size:
            break
        magic = records[pos + 16]
        if magic == 2:
            if pos + 61 > size:
                break
            attributes = _I16.unpack_from(records, pos + 21)[0]
            if not attributes & 0x20:  # control batch
                count += max(0, _I32.unpack_from(records, pos + 57)[0])
        else:
            count += 1
        pos = end
    return count, size


class _ApiStats:
    """One API version's request counters, kept as plain numbers between scrapes."""

    __slots__ = ("count", "seconds", "buckets", "request_bytes", "response_bytes")

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # per bucket, not cumulative; the last is +Inf
        self.request_bytes = 0
        self.response_bytes = 0


class Metrics:
    """Per-request counters are plain numbers updated on the event loop (a few additions per request) and turned
    into Prometheus families only when scraped: prometheus_client's Counter and Histogram children take a lock
    and do their own bookkeeping on every update, which cost ~30 µs per request under the request-rate load."""

    def __init__(self, broker: "Broker", server: Any = None) -> None:
        try:
            from prometheus_client import CollectorRegistry
        except ImportError as exc:
            raise RuntimeError("metrics need prometheus_client: pip install 'kbroker[metrics]'") from exc
        self.broker = broker
        self.server = server
        self.registry = CollectorRegistry(auto_describe=False)
        self.api_stats: dict[tuple[int, int], _ApiStats] = {}
        self.topic_stats: dict[str, list[int]] = {}  # topic: [messages in, bytes in, messages out, bytes out]
        self.registry.register(_RequestCollector(self))
        self.registry.register(_StateCollector(self))
        broker.topic_deleted_listeners.append(self.forget_topic)

    def forget_topic(self, topic: str) -> None:
        """Drop a deleted topic's series, as Kafka removes its BrokerTopicMetrics (a topic created again under
        the same name starts from zero)."""
        self.topic_stats.pop(topic, None)

    # -- per request (dispatch calls this for every request with a readable header)

    def observe_request(self, api_key: int, version: int, seconds: float, request_bytes: int, response_bytes: int,
                        request: Any, response: Any) -> None:
        stats = self.api_stats.get((api_key, version))
        if stats is None:
            stats = self.api_stats[api_key, version] = _ApiStats()
        stats.count += 1
        stats.seconds += seconds
        stats.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        stats.request_bytes += request_bytes
        stats.response_bytes += response_bytes
        if api_key == 0 and request is not None:
            self._produced(version, request, response)
        elif api_key == 1 and response is not None:
            self._fetched(version, response)

    def _topic(self, topic: str) -> list[int]:
        found = self.topic_stats.get(topic)
        if found is None:
            found = self.topic_stats[topic] = [0, 0, 0, 0]
        return found

    def _name(self, name: str | None, topic_id: bytes | None) -> str | None:
        """The topic's name when it exists; None for what a client made up (e.g. an acks=0 Produce to no topic,
        which no response refuses), so that clients cannot grow the per-topic series."""
        if topic_id and topic_id != NO_UUID:
            info = self.broker.metadata.by_id.get(topic_id)
            return info.name if info else None
        return name if name and name in self.broker.metadata.topics else None

    def _produced(self, version: int, request: dict, response: dict | None) -> None:
        failed: set[tuple[Any, int]] = set()
        if response is not None:
            for t in response.get("responses") or ():
                ident = t.get("topic_id") if version >= 13 else t.get("name")
                for p in t.get("partition_responses") or ():
                    if p.get("error_code"):
                        failed.add((ident, p.get("index")))
        for t in request.get("topic_data") or ():
            ident = t.get("topic_id") if version >= 13 else t.get("name")
            name = self._name(t.get("name"), t.get("topic_id") if version >= 13 else None)
            if name is None:
                continue
            messages = size = 0
            for p in t.get("partition_data") or ():
                if failed and (ident, p.get("index")) in failed:
                    continue
                m, b = count_records(p.get("records"))
                messages += m
                size += b
            if size:
                stats = self._topic(name)
                stats[0] += messages
                stats[1] += size

    def _fetched(self, version: int, response: dict) -> None:
        for t in response.get("responses") or ():
            name = self._name(t.get("topic"), t.get("topic_id") if version >= 13 else None)
            if name is None:
                continue
            messages = size = 0
            for p in t.get("partitions") or ():
                m, b = count_records(p.get("records"))
                messages += m
                size += b
            if size:
                stats = self._topic(name)
                stats[2] += messages
                stats[3] += size

    # -- exposition

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)

    @property
    def content_type(self) -> str:
        from prometheus_client import CONTENT_TYPE_LATEST

        return CONTENT_TYPE_LATEST


def group_lag(broker: Any) -> list[tuple[str, str, int, int, int]]:
    """(group, topic, partition, committed offset, lag) for every committed offset of every group the coordinator
    knows, lag = high watermark − committed (never below 0). Empty when no group was ever used."""
    coordinator = getattr(broker, "group_coordinator", None)
    if coordinator is None:
        return []
    error, groups = coordinator.list_groups()
    if error:
        return []
    out = []
    for g in groups:
        group_id = g["group_id"]
        error, topics = coordinator.fetch_offsets(group_id, None)
        if error:
            continue
        for topic, rows in topics:
            for partition, offset, _epoch, _meta, perr in rows:
                part = broker.partitions.get((topic, partition))
                if perr or offset < 0 or part is None:
                    continue
                out.append((group_id, topic, partition, offset, max(0, part.high_watermark - offset)))
    return out


class _RequestCollector:
    """The per-request counters as Prometheus families (the names and labels the Counter/Histogram had)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
        from prometheus_client.utils import floatToGoString

        bounds = [floatToGoString(b) for b in LATENCY_BUCKETS] + ["+Inf"]
        requests = CounterMetricFamily("kbroker_requests", "Requests answered (or dropped), per API and version.",
                                       labels=["api", "version"])
        latency = HistogramMetricFamily("kbroker_request_duration_seconds",
                                        "Time from a decoded request to its encoded response, per API and version "
                                        "(Fetch long polls and JoinGroup waits included).", labels=["api", "version"])
        request_bytes = CounterMetricFamily("kbroker_request_bytes", "Bytes of request frames received, per API.",
                                            labels=["api"])
        response_bytes = CounterMetricFamily("kbroker_response_bytes", "Bytes of response frames sent, per API.",
                                             labels=["api"])
        per_api: dict[str, list[int]] = {}
        for (api_key, version), st in sorted(self.metrics.api_stats.items()):
            name = APIS[api_key].name if api_key in APIS else str(api_key)
            requests.add_metric([name, str(version)], st.count)
            cumulative, total = [], 0
            for bound, n in zip(bounds, st.buckets):
                total += n
                cumulative.append((bound, total))
            latency.add_metric([name, str(version)], cumulative, st.seconds)
            sums = per_api.setdefault(name, [0, 0])
            sums[0] += st.request_bytes
            sums[1] += st.response_bytes
        for name, (received, sent) in per_api.items():
            request_bytes.add_metric([name], received)
            response_bytes.add_metric([name], sent)
        yield from (requests, latency, request_bytes, response_bytes)

        families = [
            CounterMetricFamily("kbroker_topic_messages_in", "Records appended by Produce, per topic.",
                                labels=["topic"]),
            CounterMetricFamily("kbroker_topic_bytes_in", "Record bytes appended by Produce, per topic.",
                                labels=["topic"]),
            CounterMetricFamily("kbroker_topic_messages_out", "Records sent in Fetch responses, per topic (whole "
                                "batches: a batch fetched from its middle counts all its records).", labels=["topic"]),
            CounterMetricFamily("kbroker_topic_bytes_out", "Record bytes sent in Fetch responses, per topic.",
                                labels=["topic"]),
        ]
        for topic, values in self.metrics.topic_stats.items():
            for i, (family, value) in enumerate(zip(families, values)):
                if values[i | 1]:  # a topic that had bytes in (out) shows both its in (out) series
                    family.add_metric([topic], value)
        yield from families


class _StateCollector:
    """Broker state read at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily

        broker = self.metrics.broker
        info = InfoMetricFamily("kbroker_build", "kbroker version, node id and cluster id.")
        info.add_metric([], {"version": __version__, "node_id": str(broker.node_id),
                             "cluster_id": str(getattr(broker.metadata, "cluster_id", "") or "")})
        yield info
        if getattr(broker, "cluster", None) is not None:  # replication metrics of a cluster member
            from kbroker.cluster.metrics import families

            yield from families(broker)

        lso = GaugeMetricFamily("kbroker_partition_log_start_offset", "First offset of the partition's log.",
                                labels=["topic", "partition"])
        leo = GaugeMetricFamily("kbroker_partition_log_end_offset", "Offset the next record will get.",
                                labels=["topic", "partition"])
        hw = GaugeMetricFamily("kbroker_partition_high_watermark", "Offset up to which consumers can read.",
                               labels=["topic", "partition"])
        size = GaugeMetricFamily("kbroker_partition_size_bytes", "Bytes of the partition's log segments.",
                                 labels=["topic", "partition"])
        segments = GaugeMetricFamily("kbroker_partition_segments", "Segments of the partition's log.",
                                     labels=["topic", "partition"])
        messages = GaugeMetricFamily("kbroker_partition_messages",
                                     "Offsets held by the partition (log end offset − log start offset).",
                                     labels=["topic", "partition"])
        for (topic, index), part in list(broker.partitions.items()):
            labels = [topic, str(index)]
            try:
                plog = part.log
                start, end = plog.log_start_offset, plog.log_end_offset
                lso.add_metric(labels, start)
                leo.add_metric(labels, end)
                hw.add_metric(labels, part.high_watermark)
                size.add_metric(labels, plog.size_bytes)
                segments.add_metric(labels, plog.segments)
                messages.add_metric(labels, end - start)
            except Exception:  # a partition being deleted under the scrape
                continue
        yield from (lso, leo, hw, size, segments, messages)

        topics = GaugeMetricFamily("kbroker_topic_partitions", "Partitions of each topic.", labels=["topic"])
        for name, tinfo in list(broker.metadata.topics.items()):
            topics.add_metric([name], tinfo.partitions)
        yield topics

        committed = GaugeMetricFamily("kbroker_consumergroup_committed_offset", "Committed offset of a group.",
                                      labels=["group", "topic", "partition"])
        lag = GaugeMetricFamily("kbroker_consumergroup_lag",
                                "High watermark minus the group's committed offset.",
                                labels=["group", "topic", "partition"])
        lag_sum = GaugeMetricFamily("kbroker_consumergroup_lag_sum", "Lag of a group over all its partitions.",
                                    labels=["group"])
        members = GaugeMetricFamily("kbroker_consumergroup_members", "Members of a group.", labels=["group", "state"])
        totals: dict[str, int] = {}
        try:
            for group_id, topic, partition, offset, behind in group_lag(broker):
                committed.add_metric([group_id, topic, str(partition)], offset)
                lag.add_metric([group_id, topic, str(partition)], behind)
                totals[group_id] = totals.get(group_id, 0) + behind
            coordinator = getattr(broker, "group_coordinator", None)
            if coordinator is not None:
                for group_id, group in list(coordinator.groups.items()):
                    state = str(getattr(group, "state_name", ""))
                    members.add_metric([group_id, state], len(getattr(group, "members", {}) or {}))
        except Exception:
            log.exception("reading group state for metrics failed")
        for group_id, total in totals.items():
            lag_sum.add_metric([group_id], total)
        yield from (committed, lag, lag_sum, members)

        server = self.metrics.server
        active = GaugeMetricFamily("kbroker_connections_active", "Client connections open now.")
        active.add_metric([], getattr(server, "connections", 0))
        yield active
        accepted = CounterMetricFamily("kbroker_connections_accepted", "Client connections accepted since start.")
        accepted.add_metric([], getattr(server, "accepted", 0))
        yield accepted

        faults = getattr(broker, "faults", None)
        injected = CounterMetricFamily("kbroker_faults_injected", "Faults applied to requests, by kind and API.",
                                       labels=["kind", "api"])
        for (kind, api), n in list(getattr(faults, "injected", {}).items()):
            injected.add_metric([kind, api], n)
        yield injected
