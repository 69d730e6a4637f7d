"""Fixtures for the admin tests: a broker whose background tasks run fast (retention every 200 ms, the cleaner
every 200 ms), clients, and small helpers."""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.conftest import BrokerProcess, module_broker
from tests.helpers import unique, wait_until  # noqa: F401 (re-exported)
from tests.rawclient import RawClient

FAST = ("--set", "log.retention.check.interval.ms=200", "--set", "log.cleaner.backoff.ms=200")


fast_broker = module_broker("admin", *FAST)


@pytest.fixture
def raw(fast_broker: BrokerProcess) -> Iterator[RawClient]:
    client = RawClient(fast_broker.bootstrap)
    yield client
    client.close()


def create_topic(raw: RawClient, name: str, partitions: int = 1, configs: dict[str, str] | None = None) -> None:
    body = {"topics": [{"name": name, "num_partitions": partitions, "replication_factor": 1, "assignments": [],
                        "configs": [{"name": k, "value": v} for k, v in (configs or {}).items()]}],
            "timeout_ms": 5000, "validate_only": False}
    response = raw.request(19, 7, body)
    assert response["topics"][0]["error_code"] == 0, response


def list_offset(raw: RawClient, topic: str, partition: int, timestamp: int) -> tuple[int, int]:
    """(error code, offset) of ListOffsets v7 for one partition (-2 earliest, -1 latest)."""
    body = {"replica_id": -1, "isolation_level": 0,
            "topics": [{"name": topic, "partitions": [{"partition_index": partition, "current_leader_epoch": -1,
                                                       "timestamp": timestamp}]}]}
    p = raw.request(2, 7, body)["topics"][0]["partitions"][0]
    return p["error_code"], p["offset"]


def fetch(raw: RawClient, topic: str, partition: int, offset: int, max_bytes: int = 1 << 20) -> dict:
    body = {"replica_id": -1, "max_wait_ms": 0, "min_bytes": 0, "max_bytes": max_bytes, "isolation_level": 0,
            "session_id": 0, "session_epoch": -1, "rack_id": "", "forgotten_topics_data": [],
            "topics": [{"topic": topic, "topic_id": bytes(16),
                        "partitions": [{"partition": partition, "current_leader_epoch": -1, "fetch_offset": offset,
                                        "last_fetched_epoch": -1, "log_start_offset": -1,
                                        "partition_max_bytes": max_bytes}]}]}
    return raw.request(1, 11, body)["responses"][0]["partitions"][0]


def produce(raw: RawClient, topic: str, partition: int, batch: bytes) -> dict:
    body = {"transactional_id": None, "acks": -1, "timeout_ms": 5000,
            "topic_data": [{"name": topic, "partition_data": [{"index": partition, "records": batch}]}]}
    return raw.request(0, 9, body)["responses"][0]["partition_responses"][0]
