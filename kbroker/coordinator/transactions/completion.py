"""Ending transactions: EndTxn (and the coordinator aborting a transaction past its timeout, or fencing an open
one) moves a transaction to Prepare*, durably, then carries it to Complete*: the pending offsets, a marker in
every partition (straight into the partition logs, or through the partition's leader in a cluster), the final
state. A step that fails is retried by the background task; what is done stays done.
"""
from __future__ import annotations

import logging
from dataclasses import replace

from kbroker.coordinator.transactions.metadata import (
    MAX_EPOCH,
    NO_PRODUCER_EPOCH,
    Completion,
    TransactionMetadata,
    TxnState,
    storage_error,
)
from kbroker.coordinator.transactions.pending_offsets import TxnOffsets
from wire.errors import ErrorCode, KafkaError

log = logging.getLogger(__name__)

E = ErrorCode


class TxnCompletion(TxnOffsets):
    """EndTxn, completion, and aborting timed-out transactions."""

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
            return storage_error(exc)
        log.debug("transactional id %s: %s, %d partition(s)", meta.transactional_id, prepared.state.kafka_name,
                  len(prepared.partitions))
        self._completions[meta.transactional_id] = Completion(commit, set(prepared.partitions))
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

