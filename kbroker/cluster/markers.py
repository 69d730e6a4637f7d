"""Transaction markers for partitions another broker leads: sent with WriteTxnMarkers to that partition's
leader, as Kafka's TransactionMarkerChannelManager does.

The transaction coordinator asks `submit(...)` while it completes a transaction; the first call sends the marker
in the background and answers None (on its way), a later call answers the leader's error code for it (0 when
written). A failed send (the leader moved or is unreachable) is forgotten, so the coordinator's retry sends again
to whoever leads then.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from kbroker.cluster.client import BrokerClient

if TYPE_CHECKING:
    from kbroker.cluster.node import ClusterNode

log = logging.getLogger(__name__)

Key = tuple[str, tuple[str, int], bool, int, int]
WRITE_TXN_MARKERS_V = 1


class MarkerSender:
    def __init__(self, node: "ClusterNode") -> None:
        self.node = node
        self._inflight: set[Key] = set()
        self._done: dict[Key, int] = {}
        self._clients: dict[int, BrokerClient] = {}

    def submit(self, transactional_id: str, tp: tuple[str, int], commit: bool, producer_id: int,
               producer_epoch: int, coordinator_epoch: int) -> int | None:
        key: Key = (transactional_id, tp, commit, producer_id, producer_epoch)
        if key in self._done:
            return self._done.pop(key)
        if tp[0] not in self.node.md.topics:
            return 3  # UNKNOWN_TOPIC_OR_PARTITION: deleted, nothing to mark
        if key not in self._inflight:
            self._inflight.add(key)
            self.node.spawn(self._send, key, coordinator_epoch)
        return None

    def _client(self, broker_id: int) -> BrokerClient | None:
        info = self.node.md.brokers.get(broker_id)
        if info is None:
            return None
        client = self._clients.get(broker_id)
        if client is None or (client.host, client.port) != (info.host, info.port):
            me, net = self.node.broker_id, self.node.network
            client = self._clients[broker_id] = BrokerClient(
                info.host, info.port, client_id=f"broker-{me}-txn-markers",
                reachable=lambda: net.can_reach(me, broker_id))
        return client

    async def _send(self, key: Key, coordinator_epoch: int) -> None:
        transactional_id, (topic, index), commit, producer_id, producer_epoch = key
        result: int | None = None
        try:
            client = self._client(self.node.md.leader_of(topic, index))
            if client is not None:
                response = await client.request(27, WRITE_TXN_MARKERS_V, {"markers": [{
                    "producer_id": producer_id, "producer_epoch": producer_epoch, "transaction_result": commit,
                    "coordinator_epoch": coordinator_epoch,
                    "topics": [{"name": topic, "partition_indexes": [index]}]}]}, timeout=10)
                result = int(response["markers"][0]["topics"][0]["partitions"][0]["error_code"])
        except Exception as exc:  # unreachable or moved: the coordinator's retry sends again
            log.debug("marker for %s in %s-%d not sent: %s", transactional_id, topic, index, exc)
        finally:
            self._inflight.discard(key)
            if result is not None:
                self._done[key] = result
                from kbroker.coordinator.transactions import transaction_coordinator

                coordinator = transaction_coordinator(self.node.broker)
                if coordinator._wake is not None:
                    coordinator._wake.set()
