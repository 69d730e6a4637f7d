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

Transactional offset commits are kept pending until their transaction ends (kbroker.coordinator.transactions.
pending_offsets).

All operations are synchronous methods that run on the event loop between awaits; `run()` is the background task
(load, transaction timeouts, expiry of idle transactional ids, retries of unfinished completions).

The object is assembled from one module per job over the shared state of transactions.state: partitions
(AddPartitionsToTxn, AddOffsetsToTxn, verification), pending_offsets (TxnOffsetCommit), completion (EndTxn,
markers, timeouts). This module adds loading, the background task, InitProducerId, expiry and introspection.
"""
from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import replace
from typing import Any, Iterable

import anyio

from kbroker.coordinator.transactions.completion import TxnCompletion
from kbroker.coordinator.transactions.metadata import (
    COMPLETED,
    NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID,
    PREPARED,
    STATES_BY_NAME,
    Completion,
    InitResult,
    TransactionMetadata,
    TxnState,
    is_epoch_exhausted,
    storage_error,
)
from kbroker.coordinator.transactions.state import RETRY_INTERVAL_MS
from wire.errors import ErrorCode, KafkaError

log = logging.getLogger(__name__)

E = ErrorCode


class TransactionCoordinator(TxnCompletion):
    """The one transaction coordinator of a broker (kbroker.coordinator.transactions.transaction_coordinator)."""

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
            if meta.state in (TxnState.ONGOING, *PREPARED):
                self._recover_pending_offsets(meta)
            if meta.state in PREPARED:
                self._completions[meta.transactional_id] = Completion(meta.state == TxnState.PREPARE_COMMIT,
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
        if meta.state in PREPARED or transactional_id in self._completions:
            return InitResult(E.CONCURRENT_TRANSACTIONS)
        if meta.state == TxnState.ONGOING:
            # fence the current producer: abort its transaction with a bumped epoch, let the client retry (it
            # then gets another bump, or a new producer id when this one exhausted the epochs)
            error = self._abort_with_fence(meta)
            return InitResult(error or E.CONCURRENT_TRANSACTIONS)
        if meta.state not in (TxnState.EMPTY, *COMPLETED):
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
            return InitResult(storage_error(exc))
        log.info("initialized transactional id %s with producer id %d and epoch %d", transactional_id,
                 new.producer_id, new.producer_epoch)
        return InitResult(E.NONE, new.producer_id, new.producer_epoch)

    def expire_transactional_ids(self, now_ms: int | None = None) -> list[str]:
        """Forget transactional ids idle longer than transactional.id.expiration.ms (a tombstone each)."""
        self._ensure_loaded()
        now = self.clock() if now_ms is None else now_ms
        limit = int(self.cfg("transactional.id.expiration.ms"))
        expired = []
        for txn_id, meta in list(self.txns.items()):
            if meta.state not in (TxnState.EMPTY, *COMPLETED) or txn_id in self._completions:
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
            state = STATES_BY_NAME.get(name)
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


__all__ = ["TransactionCoordinator"]
