"""The transaction coordinator: transactional ids, their producer ids and epochs, and the transactions they run
(behaviour of Kafka's TransactionCoordinator, TransactionMetadata and TransactionStateManager; no code of theirs).

States, as Kafka names them (DescribeTransactions and ListTransactions report these names):
Empty → Ongoing (AddPartitionsToTxn / AddOffsetsToTxn) → PrepareCommit | PrepareAbort (EndTxn, or the coordinator
aborting a transaction past its timeout, or InitProducerId fencing an open one) → CompleteCommit | CompleteAbort
once every partition of the transaction has its marker; InitProducerId moves Complete*/Empty back to Empty with
the epoch bumped (or a new producer id when the epoch is exhausted).

Every transition is written to `__transaction_state` before it takes effect, so a restarted broker finds each
transactional id where it was; a transaction caught between Prepare* and Complete* is finished at load. This broker
is every partition's leader, so markers are written straight into the partition logs (no WriteTxnMarkers round
trip): when EndTxn answers, the outcome is decided durably and, unless a write failed (then the background task
retries), every marker is in place.

Transactional offset commits (TxnOffsetCommit) are written to `__consumer_offsets` as a transactional batch of the
producer, exactly as Kafka writes them, and kept here as pending until the transaction ends: on commit they are
handed to the group coordinator (written again as plain offset commits, before the COMMIT marker), on abort
dropped. At start-up the pending offsets of open transactions are read back from `__consumer_offsets`.

All operations are synchronous methods that run on the event loop between awaits; `run()` is the background task
(load, transaction timeouts, expiry of idle transactional ids, retries of unfinished completions).
"""
from __future__ import annotations

import enum
import logging
import math
import re
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Iterable

import anyio

from kbroker.coordinator.records import (
    OFFSETS_TOPIC,
    OffsetAndMetadata,
    OffsetRecord,
    RecordFormatError,
    decode as decode_offsets_record,
    encode_key as encode_offsets_key,
    encode_value as encode_offsets_value,
    partition_for as offsets_partition_for,
)
from kbroker.coordinator.transactions.records import TRANSACTION_STATE_TOPIC, TxnLogValue
from kbroker.coordinator.transactions.store import LogTxnStore, MemoryTxnStore, TxnStore
from wire import records as rec
from wire.errors import ErrorCode, KafkaError

if TYPE_CHECKING:
    from kbroker.broker import Broker

log = logging.getLogger(__name__)

E = ErrorCode
NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
MAX_EPOCH = 32767

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


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def is_epoch_exhausted(epoch: int) -> bool:
    return epoch >= MAX_EPOCH - 1


class TxnState(enum.IntEnum):
    EMPTY = 0
    ONGOING = 1
    PREPARE_COMMIT = 2
    PREPARE_ABORT = 3
    COMPLETE_COMMIT = 4
    COMPLETE_ABORT = 5
    DEAD = 6
    PREPARE_EPOCH_FENCE = 7

    @property
    def kafka_name(self) -> str:
        return _NAMES[self]


_NAMES = {
    TxnState.EMPTY: "Empty",
    TxnState.ONGOING: "Ongoing",
    TxnState.PREPARE_COMMIT: "PrepareCommit",
    TxnState.PREPARE_ABORT: "PrepareAbort",
    TxnState.COMPLETE_COMMIT: "CompleteCommit",
    TxnState.COMPLETE_ABORT: "CompleteAbort",
    TxnState.DEAD: "Dead",
    TxnState.PREPARE_EPOCH_FENCE: "PrepareEpochFence",
}
_BY_NAME = {name: state for state, name in _NAMES.items()}
_PREPARED = (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT)
_COMPLETED = (TxnState.COMPLETE_COMMIT, TxnState.COMPLETE_ABORT)

TopicPartition = tuple[str, int]


@dataclass(frozen=True)
class TransactionMetadata:
    transactional_id: str
    producer_id: int
    producer_epoch: int = NO_PRODUCER_EPOCH
    last_producer_epoch: int = NO_PRODUCER_EPOCH
    previous_producer_id: int = NO_PRODUCER_ID
    timeout_ms: int = 60000
    state: TxnState = TxnState.EMPTY
    partitions: frozenset[TopicPartition] = frozenset()
    start_ms: int = -1
    last_update_ms: int = -1

    def to_value(self) -> TxnLogValue:
        parts: dict[str, list[int]] | None = None
        if self.state != TxnState.EMPTY:
            parts = {}
            for topic, index in sorted(self.partitions):
                parts.setdefault(topic, []).append(index)
        return TxnLogValue(self.producer_id, self.producer_epoch, self.timeout_ms, int(self.state), parts,
                           self.last_update_ms, self.start_ms, self.previous_producer_id)

    @classmethod
    def from_value(cls, transactional_id: str, value: TxnLogValue) -> TransactionMetadata:
        state = TxnState(value.status)
        parts = frozenset((t, p) for t, ids in (value.partitions or {}).items() for p in ids)
        if state == TxnState.EMPTY:
            parts = frozenset()
        return cls(transactional_id, value.producer_id, value.producer_epoch, NO_PRODUCER_EPOCH,
                   value.previous_producer_id, value.timeout_ms, state, parts, value.start_ms, value.last_update_ms)


@dataclass
class InitResult:
    error: int
    producer_id: int = NO_PRODUCER_ID
    producer_epoch: int = NO_PRODUCER_EPOCH


@dataclass
class _Completion:
    """A Prepare* transaction on its way to Complete*: what is still to do."""

    commit: bool
    markers_due: set[TopicPartition]
    offsets_applied: bool = False


@dataclass
class _PendingOffsets:
    producer_id: int
    by_group: dict[str, dict[TopicPartition, OffsetAndMetadata]] = field(default_factory=dict)


class TransactionCoordinator:
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
        self._completions: dict[str, _Completion] = {}
        self._pending: dict[str, _PendingOffsets] = {}  # transactional id -> offsets of its open transaction
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
    # configuration, loading, the background task

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
        """Replay `__transaction_state`, read back the pending offsets of open transactions, finish the ones
        caught between Prepare* and Complete*."""
        self._loaded = True
        txns: dict[str, TransactionMetadata] = {}
        for txn_id, value in self.store.replay():
            if self.owns is not None and not self.owns(txn_id):
                continue  # in a cluster: kept by the leader of its partition
            if value is None:
                txns.pop(txn_id, None)
                continue
            try:
                txns[txn_id] = TransactionMetadata.from_value(txn_id, value)
            except ValueError as exc:
                log.warning("ignoring transactional id %s with an unreadable state: %s", txn_id, exc)
        self.txns = txns
        for meta in txns.values():
            if meta.state in (TxnState.ONGOING, *_PREPARED):
                self._recover_pending_offsets(meta)
            if meta.state in _PREPARED:
                self._completions[meta.transactional_id] = _Completion(meta.state == TxnState.PREPARE_COMMIT,
                                                                       set(meta.partitions))
                self._complete(meta.transactional_id)
        if txns:
            open_count = sum(1 for m in txns.values() if m.state == TxnState.ONGOING)
            log.info("transaction coordinator loaded %d transactional id(s), %d with an open transaction",
                     len(txns), open_count)

    async def run(self, *, task_status: anyio.abc.TaskStatus = anyio.TASK_STATUS_IGNORED) -> None:
        """Load, then abort transactions past their timeout, expire idle transactional ids and retry unfinished
        completions, for as long as the broker runs."""
        self.running = True
        try:
            self._ensure_loaded()
        except Exception:
            log.exception("loading the transaction coordinator failed; it loads again on first use")
            self._loaded = False
        task_status.started()
        abort_every = max(int(self.cfg("transaction.abort.timed.out.transaction.cleanup.interval.ms")), 10)
        expire_every = max(int(self.cfg("transaction.remove.expired.transaction.cleanup.interval.ms")), 10)
        next_abort = next_expire = time.monotonic() * 1000
        try:
            while True:
                now = time.monotonic() * 1000
                try:
                    self._ensure_loaded()
                    if now >= next_abort:
                        next_abort = now + abort_every
                        self.abort_timed_out_transactions()
                    if now >= next_expire:
                        next_expire = now + expire_every
                        self.expire_transactional_ids()
                    for txn_id in list(self._completions):
                        self._complete(txn_id)
                except Exception:
                    log.exception("transaction coordinator background work failed")
                wait = min(next_abort, next_expire) - time.monotonic() * 1000
                if self._completions:
                    wait = min(wait, RETRY_INTERVAL_MS)
                self._wake = anyio.Event()
                with anyio.move_on_after(max(wait, 0) / 1000 if math.isfinite(wait) else 1):
                    await self._wake.wait()
        finally:
            self.running = False

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

    # ---------------------------------------------------------------------------------------------------------
    # InitProducerId

    def init_producer_id(self, transactional_id: str, timeout_ms: int, expected_producer_id: int = NO_PRODUCER_ID,
                         expected_epoch: int = NO_PRODUCER_EPOCH) -> InitResult:
        """expected_*: the producer's current id and epoch (InitProducerId v3+, KIP-360), -1 when it has none."""
        if not transactional_id:
            return InitResult(E.INVALID_REQUEST)
        if self.owns is not None and not self.owns(transactional_id):
            return InitResult(E.NOT_COORDINATOR)
        if not self._valid_timeout(timeout_ms):
            return InitResult(E.INVALID_TRANSACTION_TIMEOUT)
        self._ensure_loaded()
        now = self.clock()
        meta = self.txns.get(transactional_id)
        if meta is None:
            meta = TransactionMetadata(transactional_id, self._allocate_producer_id(), timeout_ms=timeout_ms,
                                       last_update_ms=now)
        expected = expected_producer_id >= 0 or expected_epoch >= 0
        if expected and not (meta.producer_epoch == NO_PRODUCER_EPOCH or expected_producer_id == meta.producer_id
                             or (expected_producer_id == meta.previous_producer_id
                                 and is_epoch_exhausted(expected_epoch))):
            return InitResult(E.PRODUCER_FENCED)
        if meta.state in _PREPARED or transactional_id in self._completions:
            return InitResult(E.CONCURRENT_TRANSACTIONS)
        if meta.state == TxnState.ONGOING:
            # fence the current producer: abort its transaction with a bumped epoch, let the client retry (it
            # then gets another bump, or a new producer id when this one exhausted the epochs)
            error = self._abort_with_fence(meta)
            return InitResult(error or E.CONCURRENT_TRANSACTIONS)
        if meta.state not in (TxnState.EMPTY, *_COMPLETED):
            return InitResult(E.CONCURRENT_TRANSACTIONS)
        if is_epoch_exhausted(meta.producer_epoch) and (not expected or expected_epoch == meta.producer_epoch):
            new = replace(meta, producer_id=self._allocate_producer_id(), producer_epoch=0,
                          last_producer_epoch=meta.producer_epoch if expected else NO_PRODUCER_EPOCH,
                          previous_producer_id=meta.producer_id, timeout_ms=timeout_ms, state=TxnState.EMPTY,
                          partitions=frozenset(), start_ms=-1, last_update_ms=now)
        else:
            if not expected:
                epoch, last = meta.producer_epoch + 1, NO_PRODUCER_EPOCH
            elif meta.producer_epoch == NO_PRODUCER_EPOCH or expected_epoch == meta.producer_epoch:
                epoch, last = meta.producer_epoch + 1, meta.producer_epoch
            elif expected_epoch == meta.last_producer_epoch:
                epoch, last = meta.producer_epoch, meta.last_producer_epoch  # a retry of a bump that succeeded
            else:
                return InitResult(E.PRODUCER_FENCED)
            new = replace(meta, producer_epoch=epoch, last_producer_epoch=last, timeout_ms=timeout_ms,
                          state=TxnState.EMPTY, partitions=frozenset(), start_ms=-1, last_update_ms=now)
        try:
            self._persist(new)
        except KafkaError as exc:
            return InitResult(_storage_error(exc))
        log.info("initialized transactional id %s with producer id %d and epoch %d", transactional_id,
                 new.producer_id, new.producer_epoch)
        return InitResult(E.NONE, new.producer_id, new.producer_epoch)

    # ---------------------------------------------------------------------------------------------------------
    # AddPartitionsToTxn, AddOffsetsToTxn, verification

    def _check_producer(self, transactional_id: str, producer_id: int, producer_epoch: int) -> tuple[int, TransactionMetadata | None]:
        if not transactional_id:
            return E.INVALID_REQUEST, None
        if self.owns is not None and not self.owns(transactional_id):
            return E.NOT_COORDINATOR, None
        self._ensure_loaded()
        meta = self.txns.get(transactional_id)
        if meta is None or meta.producer_id != producer_id:
            return E.INVALID_PRODUCER_ID_MAPPING, None
        if meta.producer_epoch != producer_epoch:
            return E.PRODUCER_FENCED, None
        return E.NONE, meta

    def add_partitions(self, transactional_id: str, producer_id: int, producer_epoch: int,
                       partitions: Iterable[TopicPartition]) -> int:
        error, meta = self._check_producer(transactional_id, producer_id, producer_epoch)
        if error or meta is None:
            return error
        wanted = frozenset(partitions)
        if meta.state in _PREPARED or transactional_id in self._completions:
            return E.CONCURRENT_TRANSACTIONS
        if meta.state == TxnState.ONGOING and wanted <= meta.partitions:
            return E.NONE
        now = self.clock()
        start = now if meta.state in (TxnState.EMPTY, *_COMPLETED) else meta.start_ms
        new = replace(meta, state=TxnState.ONGOING, partitions=meta.partitions | wanted, start_ms=start,
                      last_update_ms=now)
        try:
            self._persist(new)
        except KafkaError as exc:
            return _storage_error(exc)
        return E.NONE

    def verify_partitions(self, transactional_id: str, producer_id: int, producer_epoch: int,
                          partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """AddPartitionsToTxn verify_only (KIP-890): whether each partition is in the open transaction."""
        wanted = list(partitions)
        error, meta = self._check_producer(transactional_id, producer_id, producer_epoch)
        if not error and meta is not None and (meta.state in _PREPARED or transactional_id in self._completions):
            error = E.CONCURRENT_TRANSACTIONS
        if error or meta is None:
            return {tp: int(error) for tp in wanted}
        return {tp: int(E.NONE if tp in meta.partitions else E.TRANSACTION_ABORTABLE) for tp in wanted}

    def verify_partition(self, transactional_id: str, producer_id: int, producer_epoch: int,
                         partition: TopicPartition) -> int:
        return self.verify_partitions(transactional_id, producer_id, producer_epoch, [partition])[partition]

    @property
    def verification_enabled(self) -> bool:
        # in a cluster a partition's leader would have to ask the coordinator's broker (not done: see
        # docs/known-differences.md), so transactional batches are not verified there
        return bool(self.cfg("transaction.partition.verification.enable")) and self.remote_markers is None

    def offsets_partition(self, group_id: str) -> TopicPartition:
        """The `__consumer_offsets` partition of a group (created if the topic does not exist yet)."""
        gc = self._group_coordinator()
        if gc is not None:
            gc.ensure_offsets_topic()
        info = self.broker.topic(OFFSETS_TOPIC) if self.broker is not None else None
        count = info.partitions if info is not None else 50
        return OFFSETS_TOPIC, offsets_partition_for(group_id, count)

    def add_offsets(self, transactional_id: str, producer_id: int, producer_epoch: int, group_id: str) -> int:
        try:
            tp = self.offsets_partition(group_id)
        except KafkaError as exc:
            return E.COORDINATOR_NOT_AVAILABLE if exc.code == E.UNKNOWN_SERVER_ERROR else exc.code
        return self.add_partitions(transactional_id, producer_id, producer_epoch, [tp])

    # ---------------------------------------------------------------------------------------------------------
    # EndTxn and completion

    def end_transaction(self, transactional_id: str, producer_id: int, producer_epoch: int, commit: bool,
                        *, from_client: bool = True) -> int:
        if not transactional_id:
            return E.INVALID_REQUEST
        if self.owns is not None and not self.owns(transactional_id):
            return E.NOT_COORDINATOR
        self._ensure_loaded()
        meta = self.txns.get(transactional_id)
        if meta is None or meta.producer_id != producer_id:
            return E.INVALID_PRODUCER_ID_MAPPING
        if not ((not from_client or producer_epoch == meta.producer_epoch) and producer_epoch >= meta.producer_epoch):
            return E.PRODUCER_FENCED
        state = meta.state
        if state == TxnState.ONGOING and transactional_id not in self._completions:
            return self._prepare_and_complete(meta, commit, producer_epoch)
        if state == TxnState.COMPLETE_COMMIT:
            return E.NONE if commit else E.INVALID_TXN_STATE
        if state == TxnState.COMPLETE_ABORT:
            return E.NONE if not commit else E.INVALID_TXN_STATE
        if state == TxnState.PREPARE_COMMIT:
            return E.CONCURRENT_TRANSACTIONS if commit else E.INVALID_TXN_STATE
        if state == TxnState.PREPARE_ABORT:
            return E.CONCURRENT_TRANSACTIONS if not commit else E.INVALID_TXN_STATE
        return E.INVALID_TXN_STATE

    def _prepare_and_complete(self, meta: TransactionMetadata, commit: bool, epoch: int,
                              fence: bool = False) -> int:
        now = self.clock()
        prepared = replace(meta, state=TxnState.PREPARE_COMMIT if commit else TxnState.PREPARE_ABORT,
                           producer_epoch=epoch, last_update_ms=now,
                           last_producer_epoch=NO_PRODUCER_EPOCH if fence else meta.last_producer_epoch)
        try:
            self._persist(prepared)
        except KafkaError as exc:
            return _storage_error(exc)
        log.debug("transactional id %s: %s, %d partition(s)", meta.transactional_id, prepared.state.kafka_name,
                  len(prepared.partitions))
        self._completions[meta.transactional_id] = _Completion(commit, set(prepared.partitions))
        if not self._complete(meta.transactional_id) and self._wake is not None:
            self._wake.set()  # the background task retries
        return E.NONE

    def _abort_with_fence(self, meta: TransactionMetadata) -> int:
        if meta.producer_epoch >= MAX_EPOCH:
            log.error("cannot fence producer %d of %s: epoch %d", meta.producer_id, meta.transactional_id,
                      meta.producer_epoch)
            return E.CONCURRENT_TRANSACTIONS
        return self._prepare_and_complete(meta, False, meta.producer_epoch + 1, fence=True)

    def _complete(self, transactional_id: str) -> bool:
        """Carry a Prepare* transaction to Complete*: pending offsets, markers, the final state. False when a step
        failed (what is done stays done; the rest is retried)."""
        job = self._completions.get(transactional_id)
        meta = self.txns.get(transactional_id)
        if job is None or meta is None:
            self._completions.pop(transactional_id, None)
            return True
        now = self.clock()
        if not job.offsets_applied:
            pending = self._pending.get(transactional_id)
            if job.commit and pending is not None and pending.producer_id == meta.producer_id:
                try:
                    for group_id, offsets in pending.by_group.items():
                        self._apply_offsets(group_id, offsets)
                except KafkaError as exc:
                    log.warning("transactional id %s: offsets not committed yet (%s); retrying",
                                transactional_id, exc)
                    return False
            self._pending.pop(transactional_id, None)
            job.offsets_applied = True
        coordinator_epoch = self._coordinator_epoch(transactional_id)
        for tp in sorted(job.markers_due):
            partition = self.broker.partition(*tp) if self.broker is not None else None
            remote = self.remote_markers
            if remote is not None and (partition is None or not partition.leading):
                # in a cluster the partition's leader writes the marker (WriteTxnMarkers, kbroker.cluster.markers)
                code = remote(transactional_id, tp, job.commit, meta.producer_id, meta.producer_epoch,
                              coordinator_epoch)
                if code is None:
                    return False  # on its way; the background task looks again
                if code in (E.NONE, E.UNKNOWN_TOPIC_OR_PARTITION, E.INVALID_PRODUCER_EPOCH,
                            E.TRANSACTION_COORDINATOR_FENCED):
                    job.markers_due.discard(tp)
                    continue
                log.warning("marker for %s in %s-%d not written (%s); retrying", transactional_id, tp[0], tp[1],
                            E(code).name)
                return False
            if partition is None:
                job.markers_due.discard(tp)  # the topic was deleted: nothing to mark
                continue
            try:
                partition.write_txn_marker(job.commit, producer_id=meta.producer_id, producer_epoch=meta.producer_epoch,
                                           coordinator_epoch=coordinator_epoch, now_ms=now)
            except KafkaError as exc:
                if exc.code in (E.INVALID_PRODUCER_EPOCH, E.TRANSACTION_COORDINATOR_FENCED):
                    log.warning("marker for %s in %s-%d refused: %s", transactional_id, tp[0], tp[1], exc)
                    job.markers_due.discard(tp)
                    continue
                log.warning("marker for %s in %s-%d not written (%s); retrying", transactional_id, tp[0], tp[1], exc)
                return False
            except Exception:
                log.exception("marker for %s in %s-%d not written; retrying", transactional_id, tp[0], tp[1])
                return False
            job.markers_due.discard(tp)
        completed = replace(meta, state=TxnState.COMPLETE_COMMIT if job.commit else TxnState.COMPLETE_ABORT,
                            partitions=frozenset(), last_producer_epoch=meta.producer_epoch, last_update_ms=now)
        try:
            self._persist(completed)
        except KafkaError as exc:
            log.warning("transactional id %s: completion not written (%s); retrying", transactional_id, exc)
            return False
        del self._completions[transactional_id]
        return True

    def abort_timed_out_transactions(self, now_ms: int | None = None) -> list[str]:
        """Abort (fencing the producer, as Kafka does) every transaction open longer than its timeout."""
        self._ensure_loaded()
        now = self.clock() if now_ms is None else now_ms
        aborted = []
        for txn_id, meta in list(self.txns.items()):
            if meta.state != TxnState.ONGOING or txn_id in self._completions:
                continue
            if meta.start_ms + meta.timeout_ms < now:
                log.info("aborting transaction of %s (producer %d, epoch %d): open longer than its timeout of %d ms",
                         txn_id, meta.producer_id, meta.producer_epoch, meta.timeout_ms)
                if self._abort_with_fence(meta) == E.NONE:
                    aborted.append(txn_id)
        return aborted

    def expire_transactional_ids(self, now_ms: int | None = None) -> list[str]:
        """Forget transactional ids idle longer than transactional.id.expiration.ms (a tombstone each)."""
        self._ensure_loaded()
        now = self.clock() if now_ms is None else now_ms
        limit = int(self.cfg("transactional.id.expiration.ms"))
        expired = []
        for txn_id, meta in list(self.txns.items()):
            if meta.state not in (TxnState.EMPTY, *_COMPLETED) or txn_id in self._completions:
                continue
            if meta.last_update_ms <= now - limit:
                try:
                    self.store.append(txn_id, None, now)
                except KafkaError as exc:
                    log.warning("could not expire transactional id %s: %s", txn_id, exc)
                    continue
                del self.txns[txn_id]
                expired.append(txn_id)
        if expired:
            log.info("expired %d transactional id(s)", len(expired))
        return expired

    # ---------------------------------------------------------------------------------------------------------
    # transactional offset commits

    def _group_coordinator(self):  # type: ignore[no-untyped-def]
        if self.broker is None:
            return None
        from kbroker.coordinator import group_coordinator

        return group_coordinator(self.broker)

    def txn_offset_commit(
        self,
        *,
        version: int,
        transactional_id: str,
        group_id: str,
        producer_id: int,
        producer_epoch: int,
        generation_id: int,
        member_id: str,
        group_instance_id: str | None,
        offsets: list[tuple[str, int, int, int, str | None]],
    ) -> tuple[int, dict[TopicPartition, int]]:
        """offsets: (topic, partition, offset, leader epoch, metadata). Returns (error for all, per-partition)."""
        if not group_id:
            return E.INVALID_GROUP_ID, {}
        try:
            offsets_tp = self.offsets_partition(group_id)
        except KafkaError:
            return E.COORDINATOR_NOT_AVAILABLE, {}
        if self.owns is not None and not self.owns(transactional_id):
            # in a cluster the group's coordinator may not be the transaction's: as Kafka's group coordinator
            # (without KIP-890), it takes the commit as pending until the transaction's marker reaches the
            # offsets partition (on_marker_written)
            error = E.NONE
        else:
            error = self.verify_partition(transactional_id, producer_id, producer_epoch, offsets_tp)
        if error == E.TRANSACTION_ABORTABLE and version >= 5:  # transaction version 2: added implicitly
            error = self.add_partitions(transactional_id, producer_id, producer_epoch, [offsets_tp])
        if error:
            if error == E.PRODUCER_FENCED:
                error = E.INVALID_PRODUCER_EPOCH
            elif error == E.TRANSACTION_ABORTABLE and version < 4:
                error = E.INVALID_TXN_STATE
            elif error in (E.CONCURRENT_TRANSACTIONS, E.COORDINATOR_LOAD_IN_PROGRESS, E.NOT_COORDINATOR):
                error = E.COORDINATOR_NOT_AVAILABLE  # retriable for every client version
            return error, {}
        error = self._validate_group(group_id, member_id, group_instance_id, generation_id)
        if error:
            return error, {}
        gc = self._group_coordinator()
        max_metadata = int(gc.cfg("offset.metadata.max.bytes")) if gc is not None else 4096
        now = self.clock()
        results: dict[TopicPartition, int] = {}
        accepted: dict[TopicPartition, OffsetAndMetadata] = {}
        for topic, partition, offset, leader_epoch, metadata in offsets:
            if metadata is not None and len(metadata) > max_metadata:
                results[(topic, partition)] = E.OFFSET_METADATA_TOO_LARGE
                continue
            accepted[(topic, partition)] = OffsetAndMetadata(offset, leader_epoch, metadata or "", now, None)
            results[(topic, partition)] = E.NONE
        if not accepted:
            return E.NONE, results
        batch = rec.build_batch(
            [rec.Record(i, 0, encode_offsets_key(OffsetRecord(group_id, t, p, v)),
                        encode_offsets_value(OffsetRecord(group_id, t, p, v)))
             for i, ((t, p), v) in enumerate(accepted.items())],
            base_timestamp=now, producer_id=producer_id, producer_epoch=producer_epoch,
            base_sequence=rec.NO_SEQUENCE, transactional=True,
        )
        partition_obj = self.broker.partition(*offsets_tp) if self.broker is not None else None
        if partition_obj is not None:
            try:
                partition_obj.append_coordinator_batch(batch, now_ms=now)
            except KafkaError as exc:
                code = exc.code if exc.code in (E.INVALID_PRODUCER_EPOCH, E.INVALID_TXN_STATE) else E.COORDINATOR_NOT_AVAILABLE
                for tp in accepted:
                    results[tp] = code
                return E.NONE, results
            except Exception:
                log.exception("writing transactional offsets of %s failed", group_id)
                for tp in accepted:
                    results[tp] = E.COORDINATOR_NOT_AVAILABLE
                return E.NONE, results
        pending = self._pending.get(transactional_id)
        if pending is None or pending.producer_id != producer_id:
            pending = self._pending[transactional_id] = _PendingOffsets(producer_id)
        pending.by_group.setdefault(group_id, {}).update(accepted)
        return E.NONE, results

    def has_pending_offsets(self, group_id: str, topic: str | None = None, partition: int | None = None) -> bool:
        """Whether an open transaction holds uncommitted offsets of the group (for the partition, if given):
        OffsetFetch with require_stable answers UNSTABLE_OFFSET_COMMIT then."""
        for pending in self._pending.values():
            offsets = pending.by_group.get(group_id)
            if offsets and (topic is None or (topic, partition) in offsets):
                return True
        return False

    def _validate_group(self, group_id: str, member_id: str, instance_id: str | None, generation_id: int) -> int:
        """The group checks of a transactional offset commit, which the group coordinator owns."""
        gc = self._group_coordinator()
        if gc is None:
            return E.NONE
        return int(gc.validate_transactional_offset_commit(group_id=group_id, member_id=member_id,
                                                           group_instance_id=instance_id,
                                                           generation_id=generation_id))

    def _apply_offsets(self, group_id: str, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        """Make committed transactional offsets the group's committed offsets (the group coordinator writes them
        again as plain offset commits). KafkaError when that failed: the completion is retried."""
        gc = self._group_coordinator()
        if gc is not None:
            gc.commit_transactional_offsets(group_id, dict(offsets))

    def _recover_pending_offsets(self, meta: TransactionMetadata) -> None:
        """Read back the offsets an open transaction wrote to `__consumer_offsets` (from the producer's first
        batch of the transaction there, which the partition's producer state knows)."""
        if self.broker is None:
            return
        for topic, index in meta.partitions:
            if topic != OFFSETS_TOPIC:
                continue
            partition = self.broker.partition(topic, index)
            if partition is None:
                continue
            plog = partition.log
            entry = plog.producer_state.last_entry(meta.producer_id)
            if entry is None or entry.current_txn_first_offset is None:
                continue
            offset = max(entry.current_txn_first_offset, plog.log_start_offset)
            end = plog.log_end_offset
            while offset < end:
                info = plog.read(offset, 1 << 20, min_one_batch=True)
                if not info.records or info.next_offset <= offset:
                    break
                data = memoryview(info.records)
                for position, header in rec.iter_batches(data):
                    if (header.producer_id != meta.producer_id or not header.is_transactional or header.is_control
                            or header.base_offset < offset):
                        continue
                    try:
                        records = rec.decode_records(data[position : position + header.size])
                    except (rec.CorruptRecordError, rec.InvalidRecordError):
                        continue
                    for record in records:
                        try:
                            stored = decode_offsets_record(record.key, record.value)
                        except (RecordFormatError, UnicodeDecodeError):
                            continue
                        if isinstance(stored, OffsetRecord) and stored.value is not None:
                            pending = self._pending.get(meta.transactional_id)
                            if pending is None or pending.producer_id != meta.producer_id:
                                pending = self._pending[meta.transactional_id] = _PendingOffsets(meta.producer_id)
                            pending.by_group.setdefault(stored.group_id, {})[(stored.topic, stored.partition)] = stored.value
                offset = info.next_offset

    def on_marker_written(self, producer_id: int, commit: bool, topic: str) -> None:
        """A marker written by someone else (WriteTxnMarkers from an admin client aborting a hanging
        transaction): resolve the pending offsets of that producer if it was in `__consumer_offsets`."""
        if topic != OFFSETS_TOPIC:
            return
        for txn_id, pending in list(self._pending.items()):
            if pending.producer_id != producer_id:
                continue
            if commit:
                try:
                    for group_id, offsets in pending.by_group.items():
                        self._apply_offsets(group_id, offsets)
                except KafkaError as exc:
                    log.warning("offsets of producer %d not committed: %s", producer_id, exc)
                    return
            del self._pending[txn_id]

    # ---------------------------------------------------------------------------------------------------------
    # introspection

    def describe(self, transactional_id: str) -> dict:
        out: dict[str, Any] = {"transactional_id": transactional_id, "error_code": 0, "transaction_state": "",
                               "transaction_timeout_ms": 0, "transaction_start_time_ms": -1, "producer_id": -1,
                               "producer_epoch": -1, "topics": []}
        if not transactional_id:
            out["error_code"] = int(E.INVALID_REQUEST)
            return out
        self._ensure_loaded()
        meta = self.txns.get(transactional_id)
        if meta is None or meta.state == TxnState.DEAD:
            out["error_code"] = int(E.TRANSACTIONAL_ID_NOT_FOUND)
            return out
        topics: dict[str, list[int]] = {}
        for topic, index in sorted(meta.partitions):
            topics.setdefault(topic, []).append(index)
        out.update(transaction_state=meta.state.kafka_name, transaction_timeout_ms=meta.timeout_ms,
                   transaction_start_time_ms=meta.start_ms, producer_id=meta.producer_id,
                   producer_epoch=meta.producer_epoch,
                   topics=[{"topic": t, "partitions": ps} for t, ps in topics.items()])
        return out

    def list_transactions(self, states: Iterable[str] = (), producer_ids: Iterable[int] = (),
                          duration_ms: int = -1, pattern: str | None = None) -> tuple[int, list[str], list[dict]]:
        """(error, unknown state filters, [{transactional_id, producer_id, transaction_state}])."""
        self._ensure_loaded()
        wanted_states = set()
        unknown = []
        for name in states:
            state = _BY_NAME.get(name)
            if state is None:
                unknown.append(name)
            else:
                wanted_states.add(state)
        state_names = list(states)
        pids = set(producer_ids)
        regex = None
        if pattern:
            try:
                regex = re.compile(pattern)
            except re.error:
                return int(E.INVALID_REQUEST), unknown, []
        now = self.clock()
        out = []
        for txn_id, meta in sorted(self.txns.items()):
            if meta.state == TxnState.DEAD:
                continue
            if pids and meta.producer_id not in pids:
                continue
            if state_names and meta.state not in wanted_states:
                continue
            if duration_ms >= 0 and now - meta.start_ms <= duration_ms:
                continue
            if regex is not None and not regex.fullmatch(txn_id):
                continue
            out.append({"transactional_id": txn_id, "producer_id": meta.producer_id,
                        "transaction_state": meta.state.kafka_name})
        return int(E.NONE), unknown, out


def _storage_error(exc: KafkaError) -> int:
    """What a client is told when the coordinator could not write its state (Kafka's mapping: retriable
    COORDINATOR_NOT_AVAILABLE / NOT_COORDINATOR, UNKNOWN_SERVER_ERROR for a record too large)."""
    if exc.code in (E.COORDINATOR_NOT_AVAILABLE, E.NOT_COORDINATOR, E.COORDINATOR_LOAD_IN_PROGRESS):
        return int(exc.code)
    if exc.code in (E.MESSAGE_TOO_LARGE, E.RECORD_LIST_TOO_LARGE):
        return int(E.UNKNOWN_SERVER_ERROR)
    return int(E.COORDINATOR_NOT_AVAILABLE)


__all__ = ["TransactionCoordinator", "TransactionMetadata", "TxnState", "InitResult", "TRANSACTION_STATE_TOPIC"]
