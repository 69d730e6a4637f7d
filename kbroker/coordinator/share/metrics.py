"""Share groups on kbroker's Prometheus endpoint: members per group, and per share-partition its start offset,
the records in flight by state, and the backlog (high watermark minus the records already finished)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from kbroker.coordinator.share.partition_state import ACKNOWLEDGED, ACQUIRED, ARCHIVED, AVAILABLE

if TYPE_CHECKING:
    from kbroker.coordinator.share.coordinator import ShareCoordinator

_STATES = {AVAILABLE: "available", ACQUIRED: "acquired", ACKNOWLEDGED: "acknowledged", ARCHIVED: "archived"}


class ShareGroupCollector:
    def __init__(self, coordinator: "ShareCoordinator") -> None:
        self.coordinator = coordinator

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import GaugeMetricFamily

        coord = self.coordinator
        members = GaugeMetricFamily("kbroker_sharegroup_members", "Members of a share group.", labels=["group"])
        for group_id, group in list(coord.groups.items()):
            members.add_metric([group_id], len(group.members))
        yield members
        start = GaugeMetricFamily("kbroker_sharegroup_start_offset", "Share-partition start offset: every record "
                                  "below it is finished.", labels=["group", "topic", "partition"])
        in_flight = GaugeMetricFamily("kbroker_sharegroup_records", "Records of the in-flight window by state.",
                                      labels=["group", "topic", "partition", "state"])
        backlog = GaugeMetricFamily("kbroker_sharegroup_backlog", "Records up to the high watermark not finished "
                                    "yet (delivered or not).", labels=["group", "topic", "partition"])
        for (group_id, topic_id, index), state in list(coord.partitions.items()):
            info = coord.topic_info(topic_id)
            if info is None:
                continue
            labels = [group_id, info.name, str(index)]
            start.add_metric(labels, state.start_offset)
            counts = dict.fromkeys(_STATES.values(), 0)
            for r in state.records.values():
                counts[_STATES.get(r.state, "available")] += 1
            for name, n in counts.items():
                in_flight.add_metric([*labels, name], n)
            partition = coord.broker.partition(info.name, index) if coord.broker is not None else None
            if partition is not None:
                done = counts["acknowledged"] + counts["archived"]
                backlog.add_metric(labels, max(0, partition.high_watermark - state.start_offset - done))
        yield from (start, in_flight, backlog)


def register(coordinator: "ShareCoordinator") -> bool:
    """Add the collector to the broker's registry, if it exports metrics; whether it did."""
    metrics = getattr(coordinator.broker, "metrics", None)
    if metrics is None:
        return False
    metrics.registry.register(ShareGroupCollector(coordinator))
    return True
