"""One partition as this broker leads it: its log, its leader epoch, and the fetchers waiting for data.

The produce path's per-partition checks live here (batch framing and CRC, size limits, timestamp type), so
handlers stay thin and replication (later) can hook the high watermark in one place. The log checks producer
sequences and epochs; this layer adds the transaction check of KIP-890 (a producer's first transactional batch in
a partition is accepted only if its transaction coordinator has the partition in the open transaction), writes
the coordinators' batches (transaction markers, transactional offset commits), and serves read_committed reads:
up to the last stable offset, with the aborted transactions of the range.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import anyio

from kbroker import produce_policy
from kbroker.log import Log, LogWriteError, OffsetOutOfRange
from kbroker.log.producer_state import AppendOrigin
from wire import record_timestamps
from wire import records as rec
from wire.errors import ErrorCode, KafkaError

READ_UNCOMMITTED = 0
READ_COMMITTED = 1
READ_LOG_END = 2
"""Not a client isolation level: a follower's fetch, which reads up to the log end offset."""


TxnVerifier = Callable[[int, int], int]
"""verify(producer id, producer epoch) -> error code (0: the partition is in the producer's open transaction)."""


@dataclass
class ProduceResult:
    base_offset: int
    log_append_time_ms: int
    log_start_offset: int
    duplicate: bool = False


@dataclass
class FetchedData:
    records: bytes | memoryview
    high_watermark: int
    last_stable_offset: int
    log_start_offset: int
    aborted: list[tuple[int, int]] | None = field(default=None)
    """read_committed: (producer id, first offset) of the aborted transactions overlapping the records."""


class Partition:
    def __init__(self, topic: str, index: int, log: Log, *, leader_epoch: int = 0) -> None:
        self.topic = topic
        self.index = index
        self.log = log
        self.leader_epoch = leader_epoch
        self._waiters: set[anyio.Event] = set()
        self.replica = None
        """kbroker.cluster.partition_state.ReplicaState when this broker is part of a cluster; None alone."""

    # -- produce

    def append_records(
        self,
        records: bytes | memoryview | None,
        *,
        now_ms: int,
        one_batch: bool = False,
        zstd_allowed: bool = True,
        verify_txn: TxnVerifier | None = None,
        policy: produce_policy.ProducePolicy | None = None,
    ) -> ProduceResult:
        """Validate the batches (framing, CRC, limits) and append them; KafkaError with Kafka's code if refused.

        `one_batch`: Produce v3+ must carry exactly one batch per partition. `zstd_allowed`: zstd needs v7+.
        `verify_txn`: asked before a producer's first transactional batch in this partition (KIP-890).
        `policy`: the topic's produce settings (kbroker.produce_policy): batch size limit, timestamp type and
        bounds, key rules, broker-side compression; None applies none of them.
        A retried batch the log already holds is acknowledged with its first offsets (duplicate=True).
        """
        if not records:
            raise KafkaError(ErrorCode.CORRUPT_MESSAGE, "Produce request carried no records")
        log_append_time = policy is not None and policy.log_append_time
        try:
            records = self._checked(records, now_ms, one_batch, zstd_allowed, verify_txn, policy)
        except (rec.CorruptRecordError, rec.InvalidRecordError) as exc:  # from any step that reads records
            raise KafkaError(ErrorCode(exc.code), str(exc)) from exc
        try:
            info = self.log.append(records, leader_epoch=self.leader_epoch, now_ms=now_ms,
                                   log_append_time=log_append_time)
        except LogWriteError as exc:  # disk full or I/O error, logged once by the log; the client retries
            raise KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, "Disk error when trying to access log file on the disk.") from exc
        if info.duplicate:
            return ProduceResult(info.first_offset, info.log_append_time_ms, self.log.log_start_offset, True)
        self._appended()
        return ProduceResult(info.first_offset, info.log_append_time_ms, self.log.log_start_offset)

    def _checked(
        self,
        records: bytes | memoryview,
        now_ms: int,
        one_batch: bool,
        zstd_allowed: bool,
        verify_txn: TxnVerifier | None,
        policy: produce_policy.ProducePolicy | None,
    ) -> bytes | bytearray | memoryview:
        """The batches as they will be appended. What the client sent is checked first (framing, CRC, count,
        size, codec for the version), as Kafka does before its topic rules; then the topic's rules may rewrite."""
        batches = rec.validate_produce_batches(records)
        if one_batch and len(batches) != 1:
            raise KafkaError(ErrorCode.INVALID_RECORD, "Produce v3+ must carry exactly one record batch per partition")
        limit = policy.max_message_bytes if policy is not None else None
        for _, header in batches:
            if limit is not None and header.size > limit:
                raise KafkaError(ErrorCode.MESSAGE_TOO_LARGE,
                                 f"The batch size {header.size} exceeds the limit of {limit} bytes")
            if header.compression == 4 and not zstd_allowed:
                raise KafkaError(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, "zstd needs Produce v7 or later")
        if policy is not None:
            rewritten, batches = produce_policy.apply(records, batches, policy, now_ms)
            if rewritten is not records and limit is not None:
                for _, header in batches:  # recompressed: the stored batch must fit too
                    if header.size > limit:
                        raise KafkaError(ErrorCode.MESSAGE_TOO_LARGE, f"The recompressed batch size "
                                         f"{header.size} exceeds the limit of {limit} bytes")
            records = rewritten
        if verify_txn is not None:
            self._verify_transaction(batches, verify_txn)
        if policy is None or not policy.log_append_time:
            records = _with_record_max_timestamps(records, batches)
        return records

    def _verify_transaction(self, batches: list[tuple[int, rec.BatchHeader]], verify: TxnVerifier) -> None:
        state = self.log.producer_state
        for _, header in batches:
            if not header.is_transactional or header.producer_id < 0:
                continue
            if state.has_ongoing_txn(header.producer_id):
                continue
            error = verify(header.producer_id, header.producer_epoch)
            if error:
                raise KafkaError(ErrorCode(error), f"Transactional batch of producer {header.producer_id} to "
                                 f"{self.topic}-{self.index} is not part of an open transaction")

    def append_coordinator_batch(self, batch: bytes, *, now_ms: int) -> int:
        """Append a batch written by a coordinator (a transactional offset commit): producer epochs are checked,
        sequences are not. Returns its base offset."""
        self._check_leading()
        info = self.log.append(batch, leader_epoch=self.leader_epoch, now_ms=now_ms, origin=AppendOrigin.COORDINATOR)
        self._appended()
        return info.first_offset

    def write_txn_marker(self, commit: bool, *, producer_id: int, producer_epoch: int, coordinator_epoch: int,
                         now_ms: int) -> int:
        """Append a COMMIT or ABORT marker for the producer's transaction in this partition; its offset.
        KafkaError (INVALID_PRODUCER_EPOCH, TRANSACTION_COORDINATOR_FENCED) if the log refuses it."""
        self._check_leading()
        batch = rec.build_control_batch(commit, producer_id=producer_id, producer_epoch=producer_epoch,
                                        coordinator_epoch=coordinator_epoch, timestamp=now_ms)
        info = self.log.append(batch, leader_epoch=self.leader_epoch, now_ms=now_ms, origin=AppendOrigin.COORDINATOR)
        self._appended()
        return info.first_offset

    @property
    def leading(self) -> bool:
        """Whether this replica takes appends: always alone, as leader in a cluster."""
        return self.replica is None or self.replica.is_leader

    def _check_leading(self) -> None:
        """Only a leader appends (a follower's log is a copy of its leader's)."""
        if self.replica is not None and not self.replica.is_leader:
            raise KafkaError(ErrorCode.NOT_LEADER_OR_FOLLOWER,
                             f"This broker does not lead {self.topic}-{self.index}")

    def _appended(self) -> None:
        if self.replica is None:  # a single replica: everything appended is committed
            self.log.high_watermark = self.log.log_end_offset
        else:  # replicated: the HW moves when the ISR has it
            self.replica.maybe_increment_hw()
        self._wake()

    # -- fetch

    @property
    def high_watermark(self) -> int:
        return self.log.high_watermark

    @property
    def last_stable_offset(self) -> int:
        return self.log.last_stable_offset

    def read(self, offset: int, max_bytes: int, *, isolation: int, min_one_batch: bool) -> FetchedData:
        hw = self.high_watermark
        lso = self.last_stable_offset
        limit = lso if isolation == READ_COMMITTED else hw
        if isolation == READ_LOG_END:
            limit = self.log.log_end_offset
        try:
            info = self.log.read(offset, max_bytes, max_offset=limit, min_one_batch=min_one_batch)
        except OffsetOutOfRange as exc:
            raise KafkaError(ErrorCode.OFFSET_OUT_OF_RANGE, str(exc)) from exc
        aborted = None
        if isolation == READ_COMMITTED:
            aborted = []
            if info.records:
                aborted = [(t.producer_id, t.first_offset)
                           for t in self.log.collect_aborted_transactions(offset, info.next_offset)]
        return FetchedData(info.records, hw, lso, self.log.log_start_offset, aborted)

    def check_leader_epoch(self, current_leader_epoch: int) -> None:
        """FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH for an older / newer epoch than this replica's, then
        NOT_LEADER_OR_FOLLOWER when this replica does not lead (in a cluster)."""
        if current_leader_epoch >= 0 and current_leader_epoch != self.leader_epoch:
            if current_leader_epoch > self.leader_epoch:
                raise KafkaError(ErrorCode.UNKNOWN_LEADER_EPOCH)
            raise KafkaError(ErrorCode.FENCED_LEADER_EPOCH)
        if self.replica is not None and not self.replica.is_leader:
            raise KafkaError(ErrorCode.NOT_LEADER_OR_FOLLOWER)

    # -- waiting for data

    def add_waiter(self, event: anyio.Event) -> None:
        self._waiters.add(event)

    def remove_waiter(self, event: anyio.Event) -> None:
        self._waiters.discard(event)

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, set()
        for event in waiters:
            event.set()


def _with_record_max_timestamps(records: bytes | bytearray | memoryview,
                                batches: list[tuple[int, rec.BatchHeader]]) -> bytes | bytearray | memoryview:
    """The batches with maxTimestamp set to their records' largest timestamp (-1 when none has one), as Kafka's
    LogValidator stores it; decodes only batches whose header cannot be trusted (record_timestamps.max_timestamp_trusted):
    librdkafka sends records without timestamps under maxTimestamp 0, sarama 1.22 sends maxTimestamp -1."""
    untrusted = [(pos, header) for pos, header in batches
                 if not header.is_log_append_time and not record_timestamps.max_timestamp_trusted(header)]
    if not untrusted:
        return records
    out = bytearray(records)
    for pos, header in untrusted:
        actual = record_timestamps.records_max_timestamp(out, pos)
        if actual != header.max_timestamp:
            rec.set_max_timestamp(out, pos, actual)
            header.max_timestamp = actual
    return out
