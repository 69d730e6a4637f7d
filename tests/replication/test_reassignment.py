"""Partition reassignment in a cluster: AlterPartitionReassignments moves a partition to new replicas (the new
ones catch up, the leader moves if it is leaving, the removed replica drops its copy), ListPartitionReassignments
shows it while it is in progress, and a cancel puts the original replicas back."""
from __future__ import annotations

import pytest

from kbroker.testing.client import WireClient, entries_of
from wire.errors import ErrorCode


def _alter(client: WireClient, topic: str, index: int, replicas: list[int] | None) -> dict:
    body = {"timeout_ms": 10000, "topics": [{"name": topic, "partitions": [
        {"partition_index": index, "replicas": replicas}]}]}
    return client.request(45, 0, body)["responses"][0]["partitions"][0]


def _listed(client: WireClient) -> list[dict]:
    return client.request(46, 0, {"timeout_ms": 10000, "topics": None})["topics"]


def _create(client: WireClient, name: str, replicas: list[int]) -> None:
    body = {"topics": [{"name": name, "num_partitions": -1, "replication_factor": -1,
                        "assignments": [{"partition_index": 0, "broker_ids": replicas}], "configs": []}],
            "timeout_ms": 10000, "validate_only": False}
    assert client.request(19, 5, body)["topics"][0]["error_code"] == 0


@pytest.mark.kafka_cluster(brokers=3, session_timeout_ms=5000)
def test_reassignment_moves_a_partition_and_its_leader(kafka_cluster) -> None:
    cluster = kafka_cluster
    with WireClient(cluster.bootstrap_of(2)) as client:
        _create(client, "moving", [1, 2])
        cluster.wait_for_isr("moving", 0, {1, 2})
    with WireClient(cluster.bootstrap_of(1)) as client:
        for i in range(5):
            client.produce("moving", 0, entries_of([b"m%d-%d" % (i, j) for j in range(10)]))
    cluster.isolate(3)  # still registered for a while, but cannot fetch: the reassignment waits for it
    with WireClient(cluster.bootstrap_of(2)) as client:
        assert _alter(client, "moving", 0, [5, 2])["error_code"] == ErrorCode.INVALID_REPLICA_ASSIGNMENT
        assert _alter(client, "moving", 0, [2, 3])["error_code"] == 0
        cluster.wait_for(lambda: _listed(client), 10, "the reassignment to be listed")
        listed = _listed(client)[0]
        assert listed["name"] == "moving"
        assert listed["partitions"][0]["adding_replicas"] == [3]
        assert listed["partitions"][0]["removing_replicas"] == [1]
        assert sorted(listed["partitions"][0]["replicas"]) == [1, 2, 3]
        cluster.heal(3)
        cluster.wait_for(lambda: not _listed(client), 20, "the reassignment to complete")
    assert cluster.call(2, lambda b: b.cluster.md.replicas_of("moving", 0)) == [2, 3]
    assert cluster.leader("moving", 0) == 2
    assert set(cluster.isr("moving", 0)) == {2, 3}
    cluster.wait_for(lambda: cluster.call(1, lambda b: b.partition("moving", 0) is None), 10,
                     "broker 1 to drop its copy")
    assert cluster.call(3, lambda b: b.partition("moving", 0).log.log_end_offset) == 50


@pytest.mark.kafka_cluster(brokers=3, session_timeout_ms=5000)
def test_a_cancelled_reassignment_puts_the_original_replicas_back(kafka_cluster) -> None:
    cluster = kafka_cluster
    with WireClient(cluster.bootstrap_of(1)) as client:
        _create(client, "cancelled", [1, 2])
        cluster.wait_for_isr("cancelled", 0, {1, 2})
        assert _alter(client, "cancelled", 0, None)["error_code"] == ErrorCode.NO_REASSIGNMENT_IN_PROGRESS
        cluster.isolate(3)
        assert _alter(client, "cancelled", 0, [1, 3])["error_code"] == 0
        cluster.wait_for(lambda: _listed(client), 10, "the reassignment to be listed")
        assert _alter(client, "cancelled", 0, None)["error_code"] == 0
        cluster.wait_for(lambda: not _listed(client), 10, "the reassignment to be cancelled")
    cluster.heal(3)
    assert cluster.call(1, lambda b: b.cluster.md.replicas_of("cancelled", 0)) == [1, 2]
    cluster.wait_for(lambda: cluster.call(3, lambda b: b.partition("cancelled", 0) is None), 10,
                     "broker 3 to drop its copy")
