"""The settings a share group runs with: its group config (IncrementalAlterConfigs on GROUP) over the broker's
`group.share.*` defaults, bounded by the broker's min/max where Kafka bounds them."""
from __future__ import annotations

import re
from typing import Any

_DURATION = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", re.IGNORECASE)


def duration_ms(text: str) -> int | None:
    """An ISO-8601 duration (PnDTnHnMn.nS, as Java's Duration.parse takes it) in ms; None if unreadable."""
    m = _DURATION.fullmatch(text.strip())
    if not m or text.strip().upper() in ("P", "PT"):
        return None
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in m.groups())
    return int(((days * 24 + hours) * 60 + minutes) * 60_000 + seconds * 1000)


def valid_auto_offset_reset(text: str) -> bool:
    value = text.strip().lower()
    if value in ("latest", "earliest"):
        return True
    return value.startswith("by_duration:") and duration_ms(value.split(":", 1)[1]) is not None


class ShareSettings:
    """Reads one setting for one group; the broker config and the group configs are looked up each time, so an
    altered config takes effect at the next request."""

    def __init__(self, broker: Any) -> None:
        self.broker = broker

    def broker_value(self, key: str, default: Any) -> Any:
        config = getattr(self.broker, "config", None)
        if config is None:
            return default
        value = config.get(key, None)
        return default if value is None else value

    def group_value(self, group_id: str, key: str) -> str | None:
        metadata = getattr(self.broker, "metadata", None)
        configs = getattr(metadata, "group_configs", None) or {}
        return (configs.get(group_id) or {}).get(key)

    def _int(self, group_id: str, group_key: str, broker_key: str, default: int) -> int:
        text = self.group_value(group_id, group_key)
        if text is not None:
            try:
                return int(text)
            except ValueError:
                pass
        return int(self.broker_value(broker_key, default))

    @property
    def enabled(self) -> bool:
        """group.share.enable and the finalized share.version (UpdateFeatures can set it to 0)."""
        if self.broker is None:
            return True
        from kbroker.features import finalized

        return finalized(self.broker).get("share.version", 0) >= 1

    def lock_ms(self, group_id: str) -> int:
        return self._int(group_id, "share.record.lock.duration.ms", "group.share.record.lock.duration.ms", 30000)

    def delivery_limit(self, group_id: str) -> int:
        return self._int(group_id, "share.delivery.count.limit", "group.share.delivery.count.limit", 5)

    def max_record_locks(self, group_id: str) -> int:
        return self._int(group_id, "share.partition.max.record.locks", "group.share.partition.max.record.locks", 2000)

    def session_timeout_ms(self, group_id: str) -> int:
        return self._int(group_id, "share.session.timeout.ms", "group.share.session.timeout.ms", 45000)

    def heartbeat_interval_ms(self, group_id: str) -> int:
        return self._int(group_id, "share.heartbeat.interval.ms", "group.share.heartbeat.interval.ms", 5000)

    def max_size(self) -> int:
        return int(self.broker_value("group.share.max.size", 200))

    def max_groups(self) -> int:
        return int(self.broker_value("group.share.max.groups", 10))

    def auto_offset_reset(self, group_id: str) -> str:
        return (self.group_value(group_id, "share.auto.offset.reset") or "latest").strip().lower()

    def read_committed(self, group_id: str) -> bool:
        return (self.group_value(group_id, "share.isolation.level") or "read_uncommitted").strip().lower() \
            == "read_committed"
