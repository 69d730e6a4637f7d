"""The transaction coordinator (transactional ids, transactions, `__transaction_state`).

Handlers reach a broker's one TransactionCoordinator through `transaction_coordinator(broker)`: the broker's
`transaction_coordinator` attribute, made on first use. The broker's task group runs its `run()` (load,
transaction timeouts, transactional id expiry); without it the coordinator loads on first use and timeouts wait.
"""
from __future__ import annotations

from typing import Any

from kbroker.coordinator.transactions.coordinator import TransactionCoordinator
from kbroker.coordinator.transactions.metadata import InitResult, TransactionMetadata, TxnState
from kbroker.coordinator.transactions.records import TRANSACTION_STATE_TOPIC
from kbroker.per_broker import per_broker

__all__ = ["InitResult", "TRANSACTION_STATE_TOPIC", "TransactionCoordinator", "TransactionMetadata", "TxnState",
           "transaction_coordinator"]

def transaction_coordinator(broker: Any) -> TransactionCoordinator:
    return per_broker(broker, "transaction_coordinator", TransactionCoordinator)
