"""Transactions in a cluster: the coordinator (leader of the transactional id's __transaction_state partition)
has the markers written by the leaders of the transaction's partitions (WriteTxnMarkers), so a read_committed
consumer sees committed transactions and never aborted ones, on partitions led by every broker."""
from __future__ import annotations

import time

import pytest

confluent_kafka = pytest.importorskip("confluent_kafka")


@pytest.mark.kafka_cluster(brokers=3)
def test_transactions_over_partitions_led_by_different_brokers(kafka_cluster) -> None:
    cluster = kafka_cluster
    cluster.create_topic("txn", partitions=3, replication_factor=3)
    assert {cluster.leader("txn", p) for p in range(3)} == {1, 2, 3}
    producer = confluent_kafka.Producer({"bootstrap.servers": cluster.bootstrap, "transactional.id": "tx-1",
                                         "transaction.timeout.ms": 30000})
    producer.init_transactions(30)
    for round_ in range(4):
        producer.begin_transaction()
        outcome = "commit" if round_ % 2 == 0 else "abort"
        for p in range(3):
            for i in range(5):
                producer.produce("txn", f"{outcome}-{round_}-{p}-{i}".encode(), partition=p)
        if outcome == "commit":
            producer.commit_transaction(30)
        else:
            producer.abort_transaction(30)
    consumer = confluent_kafka.Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "txn-reader",
                                         "isolation.level": "read_committed", "auto.offset.reset": "earliest",
                                         "enable.auto.commit": False})
    consumer.assign([confluent_kafka.TopicPartition("txn", p, 0) for p in range(3)])
    got: list[str] = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline and len(got) < 30:
            msg = consumer.poll(0.3)
            if msg is not None and not msg.error():
                got.append(msg.value().decode())
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            msg = consumer.poll(0.2)
            if msg is not None and not msg.error():
                got.append(msg.value().decode())
    finally:
        consumer.close()
    assert len(got) == 30
    assert all(v.startswith("commit-") for v in got)
    assert {v.split("-")[2] for v in got} == {"0", "1", "2"}


@pytest.mark.kafka_cluster(brokers=3, session_timeout_ms=1000)
def test_an_open_transaction_commits_after_its_coordinator_is_killed(kafka_cluster) -> None:
    from kbroker.coordinator.records import partition_for

    cluster = kafka_cluster
    cluster.create_topic("txn-failover", partitions=1, replication_factor=3)
    producer = confluent_kafka.Producer({"bootstrap.servers": cluster.bootstrap, "transactional.id": "tx-move",
                                         "transaction.timeout.ms": 60000})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce("txn-failover", b"before", partition=0)
    producer.commit_transaction(30)

    partitions = cluster.call(cluster.alive[0], lambda b: b.topic("__transaction_state").partitions)
    state_partition = partition_for("tx-move", partitions)
    coordinator = cluster.leader("__transaction_state", state_partition)
    producer.begin_transaction()
    producer.produce("txn-failover", b"during", partition=0)
    producer.flush(30)
    cluster.kill(coordinator)
    cluster.wait_for_leader("__transaction_state", state_partition, not_in={coordinator})
    producer.commit_transaction(60)  # the new coordinator knows the open transaction and completes it
    producer.begin_transaction()
    producer.produce("txn-failover", b"after", partition=0)
    producer.commit_transaction(30)

    consumer = confluent_kafka.Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "txn-failover-reader",
                                         "isolation.level": "read_committed", "enable.auto.commit": False})
    consumer.assign([confluent_kafka.TopicPartition("txn-failover", 0, 0)])
    got: list[bytes] = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline and len(got) < 3:
            msg = consumer.poll(0.3)
            if msg is not None and not msg.error():
                got.append(msg.value())
    finally:
        consumer.close()
    assert got == [b"before", b"during", b"after"]


@pytest.mark.kafka_cluster(brokers=3)
def test_offsets_sent_to_a_transaction_coordinated_on_another_broker(kafka_cluster) -> None:
    """sendOffsetsToTransaction when the group's coordinator and the transaction's are different brokers: the
    offsets are committed with the transaction (by its marker in __consumer_offsets) and not if it aborts."""
    from kbroker.coordinator.records import partition_for
    from kbroker.testing.client import WireClient

    cluster = kafka_cluster
    cluster.create_topic("eos", partitions=1, replication_factor=3)
    with WireClient(cluster.bootstrap_of(1)) as client:  # both internal topics exist once asked about
        for key_type in (0, 1):
            cluster.wait_for(lambda kt=key_type: client.request(10, 3, {"key": "x", "key_type": kt})["error_code"]
                             == 0, 20, "the coordinators")

    def leader(topic: str, key: str) -> int:
        count = cluster.call(1, lambda b: b.topic(topic).partitions)
        return cluster.leader(topic, partition_for(key, count))
    group = "eos-group"
    txn_id = next(t for t in (f"eos-{i}" for i in range(200))
                  if leader("__transaction_state", t) != leader("__consumer_offsets", group))
    producer = confluent_kafka.Producer({"bootstrap.servers": cluster.bootstrap, "transactional.id": txn_id})
    producer.init_transactions(30)
    consumer = confluent_kafka.Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": group,
                                         "enable.auto.commit": False})
    try:
        for offset, commit in ((5, True), (9, False)):
            producer.begin_transaction()
            producer.produce("eos", b"out-%d" % offset, partition=0)
            producer.send_offsets_to_transaction([confluent_kafka.TopicPartition("eos", 0, offset)],
                                                 consumer.consumer_group_metadata(), 30)
            if commit:
                producer.commit_transaction(30)
            else:
                producer.abort_transaction(30)

        def committed() -> int:
            return consumer.committed([confluent_kafka.TopicPartition("eos", 0)], timeout=10)[0].offset
        cluster.wait_for(lambda: committed() == 5, 20, "the committed offset")
        assert committed() == 5  # the aborted transaction's offsets never became committed
    finally:
        consumer.close()
