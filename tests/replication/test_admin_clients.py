"""Topics with replication factor 3 created and described by the Python admin clients (kafka-python, aiokafka)
against a cluster; both see every broker and each partition's three replicas."""
from __future__ import annotations

import asyncio

import pytest


@pytest.mark.kafka_cluster(brokers=3)
def test_kafka_python_admin_creates_and_describes_rf3(kafka_cluster) -> None:
    pytest.importorskip("kafka")
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=kafka_cluster.bootstrap, request_timeout_ms=15000)
    try:
        admin.create_topics([NewTopic("kp-rf3", num_partitions=2, replication_factor=3)])
        for index in range(2):
            kafka_cluster.wait_for_isr("kp-rf3", index, {1, 2, 3})
        described = admin.describe_topics(["kp-rf3"])[0]
        assert described["error_code"] == 0
        for p in described["partitions"]:
            assert sorted(p["replica_nodes"]) == [1, 2, 3] and sorted(p["isr_nodes"]) == [1, 2, 3]
        assert sorted(b["broker_id"] for b in admin.describe_cluster()["brokers"]) == [1, 2, 3]
    finally:
        admin.close()


@pytest.mark.kafka_cluster(brokers=3)
def test_aiokafka_admin_creates_and_describes_rf3(kafka_cluster) -> None:
    pytest.importorskip("aiokafka")
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    async def run() -> list:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_cluster.bootstrap, request_timeout_ms=15000)
        await admin.start()
        try:
            await admin.create_topics([NewTopic("aio-rf3", num_partitions=1, replication_factor=3)])
            return await admin.describe_topics(["aio-rf3"])
        finally:
            await admin.close()
    described = asyncio.run(asyncio.wait_for(run(), 60))[0]
    assert described["error_code"] == 0
    assert sorted(described["partitions"][0]["replicas"]) == [1, 2, 3]
