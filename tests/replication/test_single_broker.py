"""`kbroker serve` alone is a cluster of one on its own store (cluster-store.json in the data directory): a data
directory from before the store existed (topics.json only) is moved into it, and a restart with another node.id
takes its partitions over instead of dropping them."""
from __future__ import annotations

from pathlib import Path

from kbroker.testing import InProcessBroker, WireClient
from kbroker.testing.client import entries_of


def _init_producer_id(client: WireClient) -> int:
    return client.request(22, 1, {"transactional_id": None, "transaction_timeout_ms": 1000})["producer_id"]


def test_topics_json_is_moved_into_the_store(tmp_path: Path) -> None:
    data = tmp_path / "data"
    broker = InProcessBroker(data).start()
    try:
        with WireClient(broker.bootstrap) as client:
            client.create_topic("kept", 2, {"retention.ms": "123456"})
            client.produce("kept", 1, entries_of([b"a", b"b"]))
            first_pid = _init_producer_id(client)
            topic_id = broker.call(lambda: broker.broker.topic("kept").topic_id)
    finally:
        broker.stop()
    (data / "cluster-store.json").unlink()  # as a data directory written before the store existed
    broker = InProcessBroker(data).start()
    try:
        assert (data / "cluster-store.json").exists()
        with WireClient(broker.bootstrap) as client:
            assert client.partitions("kept") == [0, 1]
            assert [m.value for m in client.read_all("kept", 1)] == [b"a", b"b"]
            assert _init_producer_id(client) > first_pid  # no producer id handed out twice
        assert broker.call(lambda: broker.broker.cluster.md.topics["kept"].topic_id) == topic_id
        assert broker.call(lambda: broker.broker.cluster.md.topic_configs["kept"]) == {"retention.ms": "123456"}
    finally:
        broker.stop()


def test_a_new_node_id_takes_the_partitions_over(tmp_path: Path) -> None:
    data = tmp_path / "data"
    broker = InProcessBroker(data, {"node.id": 1}).start()
    try:
        with WireClient(broker.bootstrap) as client:
            client.create_topic("adopted", 1)
            client.produce("adopted", 0, entries_of([b"x"]))
    finally:
        broker.stop()
    broker = InProcessBroker(data, {"node.id": 7}).start()
    try:
        with WireClient(broker.bootstrap) as client:
            assert [m.value for m in client.read_all("adopted", 0)] == [b"x"]
            meta = client.request(3, 9, {"topics": [{"name": "adopted"}], "allow_auto_topic_creation": False,
                                         "include_topic_authorized_operations": False})
        assert meta["topics"][0]["partitions"][0]["leader_id"] == 7
        assert [b["node_id"] for b in meta["brokers"]] == [7]
    finally:
        broker.stop()
