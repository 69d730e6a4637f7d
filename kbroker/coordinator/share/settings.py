"""The settings a share group runs with: its group config (IncrementalAlterConfigs on GROUP) over the broker's
`group.share.*` defaults, as kbroker.coordinator.group_configs resolves them (one place for that lookup)."""
from __future__ import annotations

from typing import Any

from kbroker.coordinator import group_configs
from kbroker.coordinator.share.offset_reset import duration_ms, valid_auto_offset_reset

__all__ = ["ShareSettings", "duration_ms", "valid_auto_offset_reset"]


class ShareSettings:
    """Reads one setting for one group; the broker config and the group configs are looked up each time, so an
    altered config takes effect at the next request. Without a broker (unit tests) Kafka's defaults apply."""

    def __init__(self, broker: Any) -> None:
        self.broker = broker

    def broker_value(self, key: str, default: Any) -> Any:
        config = getattr(self.broker, "config", None)
        if config is None:
            return default
        value = config.get(key, None)
        return default if value is None else value

    def _value(self, group_id: str, name: str) -> str:
        if getattr(self.broker, "metadata", None) is None:
            return group_configs.GROUP_KEYS[name].default
        return group_configs.value(self.broker, group_id, name)

    def _int(self, group_id: str, name: str) -> int:
        if getattr(self.broker, "metadata", None) is None:
            return int(group_configs.GROUP_KEYS[name].default)
        return group_configs.int_value(self.broker, group_id, name)

    @property
    def enabled(self) -> bool:
        """group.share.enable and the finalized share.version (UpdateFeatures can set it to 0)."""
        if self.broker is None:
            return True
        from kbroker.features import finalized

        return finalized(self.broker).get("share.version", 0) >= 1

    def lock_ms(self, group_id: str) -> int:
        return self._int(group_id, "share.record.lock.duration.ms")

    def delivery_limit(self, group_id: str) -> int:
        return self._int(group_id, "share.delivery.count.limit")

    def max_record_locks(self, group_id: str) -> int:
        return self._int(group_id, "share.partition.max.record.locks")

    def session_timeout_ms(self, group_id: str) -> int:
        return self._int(group_id, "share.session.timeout.ms")

    def heartbeat_interval_ms(self, group_id: str) -> int:
        return self._int(group_id, "share.heartbeat.interval.ms")

    def max_share_sessions(self) -> int:
        return int(self.broker_value("group.share.max.share.sessions", 2000))

    def max_size(self) -> int:
        return int(self.broker_value("group.share.max.size", 200))

    def max_groups(self) -> int:
        return int(self.broker_value("group.share.max.groups", 10))

    def auto_offset_reset(self, group_id: str) -> str:
        return self._value(group_id, "share.auto.offset.reset").strip().lower()

    def read_committed(self, group_id: str) -> bool:
        return self._value(group_id, "share.isolation.level").strip().lower() == "read_committed"
