"""The transaction coordinator's model: transaction states (as Kafka names them), the metadata of a
transactional id as stored in `__transaction_state`, and the in-memory bookkeeping of transactions on their way to
completion; shared by every part of the coordinator.
"""
from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field

from kbroker.coordinator.records import OffsetAndMetadata
from kbroker.coordinator.transactions.records import TxnLogValue
from wire.errors import ErrorCode, KafkaError

E = ErrorCode
NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
MAX_EPOCH = 32767


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
STATES_BY_NAME = {name: state for state, name in _NAMES.items()}
PREPARED = (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT)
COMPLETED = (TxnState.COMPLETE_COMMIT, TxnState.COMPLETE_ABORT)

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
class Completion:
    """A Prepare* transaction on its way to Complete*: what is still to do."""

    commit: bool
    markers_due: set[TopicPartition]
    offsets_applied: bool = False


@dataclass
class PendingOffsets:
    producer_id: int
    by_group: dict[str, dict[TopicPartition, OffsetAndMetadata]] = field(default_factory=dict)

def storage_error(exc: KafkaError) -> int:
    """What a client is told when the coordinator could not write its state (Kafka's mapping: retriable
    COORDINATOR_NOT_AVAILABLE / NOT_COORDINATOR, UNKNOWN_SERVER_ERROR for a record too large)."""
    if exc.code in (E.COORDINATOR_NOT_AVAILABLE, E.NOT_COORDINATOR, E.COORDINATOR_LOAD_IN_PROGRESS):
        return int(exc.code)
    if exc.code in (E.MESSAGE_TOO_LARGE, E.RECORD_LIST_TOO_LARGE):
        return int(E.UNKNOWN_SERVER_ERROR)
    return int(E.COORDINATOR_NOT_AVAILABLE)

