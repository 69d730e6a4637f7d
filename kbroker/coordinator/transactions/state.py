"""The transaction coordinator's state (transactional ids, transactions being completed, pending transactional
offsets), its configuration and how a change is made durable: the base every part of the coordinator works on.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable

import anyio

from kbroker.coordinator.transactions.metadata import Completion, PendingOffsets, TransactionMetadata, wall_ms
from kbroker.coordinator.transactions.store import LogTxnStore, MemoryTxnStore, TxnStore

if TYPE_CHECKING:
    from kbroker.broker import Broker
    from kbroker.coordinator.group_coordinator import GroupCoordinator

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "transaction.max.timeout.ms": 900000,
    "transactional.id.expiration.ms": 604800000,
    "transaction.state.log.num.partitions": 50,
    "transaction.state.log.segment.bytes": 104857600,
    "transaction.abort.timed.out.transaction.cleanup.interval.ms": 10000,
    "transaction.remove.expired.transaction.cleanup.interval.ms": 3600000,
    "transaction.partition.verification.enable": True,
}
RETRY_INTERVAL_MS = 200  # unfinished completions (a failed write) are retried this often


def setting(config: Any, key: str, default: Any) -> Any:
    """key from a BrokerConfig (its typed table, then keys it keeps unparsed) or a plain dict, as default's type."""
    raw: Any = None
    if isinstance(config, dict):
        raw = config.get(key)
    elif config is not None:
        values = getattr(config, "values", None)
        if isinstance(values, dict) and key in values:
            return values[key]
        getter = getattr(config, "get", None)
        if getter is not None:
            try:
                raw = getter(key)
            except (KeyError, ValueError):
                raw = None
        if raw is None:
            raw = (getattr(config, "unknown", None) or {}).get(key)
    if raw is None:
        return default
    if isinstance(raw, str):
        try:
            if isinstance(default, bool):
                return raw.strip().lower() in ("true", "1", "yes")
            return type(default)(raw.strip())
        except ValueError:
            log.warning("ignoring bad value %r of %s", raw, key)
            return default
    return raw


class TxnCoordinatorState:
    """State, configuration and persistence shared by every part of the transaction coordinator."""

    def __init__(self, broker: "Broker | None" = None, *, config: Any = None, store: TxnStore | None = None,
                 clock: Any = None) -> None:
        self.broker = broker
        self._config = config if config is not None else (broker.config if broker is not None else None)
        if store is None:
            if broker is not None:
                store = LogTxnStore(broker, int(self.cfg("transaction.state.log.num.partitions")),
                                    int(self.cfg("transaction.state.log.segment.bytes")))
            else:
                store = MemoryTxnStore()
        self.store: TxnStore = store
        self.clock = clock or wall_ms
        self.txns: dict[str, TransactionMetadata] = {}
        self._completions: dict[str, Completion] = {}
        self._pending: dict[str, PendingOffsets] = {}  # transactional id -> offsets of its open transaction
        self._loaded = False
        self._next_local_pid = 0
        self._wake: anyio.Event | None = None
        self.running = False
        self.owns: Callable[[str], bool] | None = None
        """In a cluster: whether this broker coordinates a transactional id (leads its partition)."""
        self.remote_markers: Callable[..., int | None] | None = None
        """In a cluster: (txn id, partition, commit, producer id, epoch, coordinator epoch) -> error code once
        the partition's leader answered, None while the marker is on its way (kbroker.cluster.markers)."""

    # ---------------------------------------------------------------------------------------------------------
    # configuration, loading

    def cfg(self, key: str) -> Any:
        """A broker setting under Kafka's name (typed like its default here); the default when unset."""
        return setting(self._config, key, DEFAULTS[key])

    def reload(self) -> None:
        """Leadership of __transaction_state partitions moved (kbroker.cluster): forget the state and load
        the transactional ids this broker now coordinates before the next operation."""
        self._loaded = False
        self.txns = {}
        self._completions.clear()

    def _ensure_loaded(self) -> None:
        if not self._loaded:
            self.load()

    def load(self) -> None:
        """Replay the stored state (TransactionCoordinator.load)."""
        raise NotImplementedError

    # ---------------------------------------------------------------------------------------------------------
    # persistence

    def _allocate_producer_id(self) -> int:
        if self.broker is not None:
            return self.broker.metadata.allocate_producer_id()
        self._next_local_pid += 1
        return self._next_local_pid - 1

    def _persist(self, meta: TransactionMetadata) -> None:
        """Write the new metadata, then make it current (KafkaError if the write failed: nothing changed)."""
        self.store.append(meta.transactional_id, meta.to_value(), self.clock())
        self.txns[meta.transactional_id] = meta

    def _coordinator_epoch(self, transactional_id: str) -> int:
        return self.store.coordinator_epoch(transactional_id)

    def _valid_timeout(self, timeout_ms: int) -> bool:
        return 0 < timeout_ms <= int(self.cfg("transaction.max.timeout.ms"))

    def _group_coordinator(self) -> "GroupCoordinator | None":
        if self.broker is None:
            return None
        from kbroker.coordinator import group_coordinator

        return group_coordinator(self.broker)

