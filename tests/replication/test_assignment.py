"""Replica assignment at topic creation (kbroker.cluster.assignment), in the shape Kafka's gives."""
from __future__ import annotations

from collections import Counter

import pytest

from kbroker.cluster.assignment import assign_replicas
from wire.errors import ErrorCode, KafkaError


def test_rack_unaware_spreads_leaders_and_replicas_evenly() -> None:
    brokers = {1: None, 2: None, 3: None}
    result = assign_replicas(brokers, 6, 3, start=0, shift=0)
    assert result[0] == [1, 2, 3] and result[1] == [2, 3, 1] and result[2] == [3, 1, 2]
    assert Counter(r[0] for r in result.values()) == {1: 2, 2: 2, 3: 2}
    assert all(len(set(r)) == 3 for r in result.values())
    assert result[3] != result[0]  # the follower shift grows every n partitions


def test_rack_aware_puts_each_partition_on_as_many_racks_as_possible() -> None:
    brokers = {1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}
    result = assign_replicas(brokers, 12, 3)
    for replicas in result.values():
        assert len(set(replicas)) == 3
        assert len({brokers[b] for b in replicas}) == 3
    assert set(Counter(r[0] for r in result.values()).values()) == {2}


def test_more_replicas_than_brokers_is_refused_with_kafkas_message() -> None:
    with pytest.raises(KafkaError) as refused:
        assign_replicas({1: None, 2: None}, 1, 3)
    assert refused.value.code == ErrorCode.INVALID_REPLICATION_FACTOR
    assert "only 2 broker(s) are registered" in str(refused.value.message)
