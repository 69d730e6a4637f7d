"""The other admin APIs with Kafka's answers for a one-broker cluster, in every version kbroker serves: raw frames
check the exact shapes (the Java admin client's needs included), kafka-python's admin client the usual calls."""
from __future__ import annotations

import pytest

from tests.admin.conftest import create_topic, produce, unique
from tests.conftest import BrokerProcess
from tests.rawclient import RawClient
from wire.records import batch_from_tuples


def test_api_versions_lists_the_admin_apis(raw: RawClient) -> None:
    keys = {k["api_key"]: (k["min_version"], k["max_version"])
            for k in raw.request(18, 3, {"client_software_name": "t", "client_software_version": "1"})["api_keys"]}
    for key, top in [(21, 2), (23, 4), (29, 3), (30, 3), (31, 3), (32, 4), (33, 2), (35, 4), (43, 2), (44, 1),
                     (45, 1), (46, 0), (48, 1), (49, 1), (50, 0), (51, 0), (60, 2), (75, 0)]:
        assert keys[key][1] == top, key
    # as Kafka without a client telemetry receiver: no telemetry APIs advertised
    assert 71 not in keys and 72 not in keys


def test_describe_cluster(raw: RawClient, fast_broker: BrokerProcess) -> None:
    port = int(fast_broker.bootstrap.rsplit(":", 1)[1])
    for version in (0, 1, 2):
        body = {"include_cluster_authorized_operations": True, "endpoint_type": 1, "include_fenced_brokers": True}
        response = raw.request(60, version, body)
        assert response["error_code"] == 0 and response["controller_id"] == 1 and response["cluster_id"]
        assert [(b["broker_id"], b["host"], b["port"]) for b in response["brokers"]] == [(1, "127.0.0.1", port)]
        assert response["cluster_authorized_operations"] > 0
    controllers = raw.request(60, 1, {"include_cluster_authorized_operations": False, "endpoint_type": 2})
    assert controllers["error_code"] == 114  # MISMATCHED_ENDPOINT_TYPE


def test_describe_log_dirs(raw: RawClient) -> None:
    topic = unique("dirs")
    create_topic(raw, topic, partitions=2)
    produce(raw, topic, 1, batch_from_tuples([(b"k", b"x" * 1000, None, None)]))
    for version in range(0, 5):
        response = raw.request(35, version, {"topics": [{"topic": topic, "partitions": [0, 1, 9]}]})
        [result] = response["results"]
        assert result["error_code"] == 0 and result["log_dir"].startswith("/")
        [entry] = [t for t in result["topics"] if t["name"] == topic]
        sizes = {p["partition_index"]: p["partition_size"] for p in entry["partitions"]}
        assert set(sizes) == {0, 1} and sizes[0] == 0 and sizes[1] > 1000
        assert all(p["offset_lag"] == 0 and not p["is_future_key"] for p in entry["partitions"])
        if version >= 4:
            assert result["total_bytes"] > 0 and result["usable_bytes"] > 0
    everything = raw.request(35, 4, {"topics": None})["results"][0]
    assert any(t["name"] == topic for t in everything["topics"])


def test_describe_topic_partitions_pages_and_elr_lists(raw: RawClient) -> None:
    topic = unique("dtp")
    create_topic(raw, topic, partitions=5)
    absent = unique("absent")  # sorts before "dtp-": on the first page
    body = {"topics": [{"name": topic}, {"name": absent}], "response_partition_limit": 3, "cursor": None}
    first = raw.request(75, 0, body)
    assert [t["name"] for t in first["topics"]] == [absent, topic]  # by name, the unknown topic reported
    [described] = [t for t in first["topics"] if t["name"] == topic]
    assert described["error_code"] == 0
    assert [p["partition_index"] for p in described["partitions"]] == [0, 1, 2]
    for p in described["partitions"]:
        assert p["eligible_leader_replicas"] == [] and p["last_known_elr"] == []  # never null
        assert p["leader_id"] == 1 and p["replica_nodes"] == [1] and p["isr_nodes"] == [1]
    assert described["topic_authorized_operations"] > 0 and len(described["topic_id"]) == 16
    assert first["next_cursor"] == {"topic_name": topic, "partition_index": 3}
    [missing] = [t for t in first["topics"] if t["name"] == absent]
    assert (missing["error_code"], missing["partitions"]) == (3, [])  # UNKNOWN_TOPIC_OR_PARTITION
    body["cursor"] = first["next_cursor"]
    second = raw.request(75, 0, body)
    [rest] = [t for t in second["topics"] if t["name"] == topic]
    assert [p["partition_index"] for p in rest["partitions"]] == [3, 4]
    bad = raw.request(75, 0, {"topics": [{"name": topic}], "response_partition_limit": 10,
                              "cursor": {"topic_name": "zzz-not-listed", "partition_index": 0}})
    assert [t["error_code"] for t in bad["topics"]] == [42]


def test_describe_topic_partitions_kafka_python(fast_broker: BrokerProcess, raw: RawClient) -> None:
    from kafka.admin import KafkaAdminClient

    topic = unique("dtpk")
    create_topic(raw, topic, partitions=3)
    admin = KafkaAdminClient(bootstrap_servers=fast_broker.bootstrap)
    try:
        described = admin.describe_topic_partitions([topic])
        [entry] = described["topics"]
        assert (entry["name"], entry["error_code"]) == (topic, 0), described
        assert [(p["partition_index"], p["error_code"], p["leader_id"]) for p in entry["partitions"]] == [
            (0, 0, 1), (1, 0, 1), (2, 0, 1)]
        cluster = admin.describe_cluster()
        assert cluster["controller_id"] == 1 and cluster["brokers"][0]["broker_id"] == 1, cluster
        [(node, dirs)] = [(d["broker"], d["log_dirs"]) for d in admin.describe_log_dirs()]
        assert node == 1 and [d["error_code"] for d in dirs] == [0], dirs
        listed = {t["name"]: sorted(p["partition_index"] for p in t["partitions"]) for t in dirs[0]["topics"]}
        assert listed[topic] == [0, 1, 2]
    finally:
        admin.close()


def test_offset_for_leader_epoch(raw: RawClient) -> None:
    topic = unique("ofle")
    create_topic(raw, topic)
    for i in range(3):
        produce(raw, topic, 0, batch_from_tuples([(b"k", b"%d" % i, None, None)]))
    for version in (2, 3, 4):
        body = {"replica_id": -1, "topics": [{"topic": topic, "partitions": [
            {"partition": 0, "current_leader_epoch": 0, "leader_epoch": 0},
            {"partition": 0, "current_leader_epoch": 5, "leader_epoch": 0},
            {"partition": 3, "current_leader_epoch": -1, "leader_epoch": 0}]}]}
        parts = raw.request(23, version, body)["topics"][0]["partitions"]
        assert (parts[0]["error_code"], parts[0]["leader_epoch"], parts[0]["end_offset"]) == (0, 0, 3)
        assert parts[1]["error_code"] == 75  # UNKNOWN_LEADER_EPOCH
        assert parts[2]["error_code"] == 3


def test_elect_leaders_and_reassignments(raw: RawClient) -> None:
    topic = unique("elect")
    create_topic(raw, topic, partitions=2)
    for version in (0, 1, 2):
        body = {"election_type": 0, "topic_partitions": [{"topic": topic, "partitions": [0, 7]}], "timeout_ms": 1000}
        response = raw.request(43, version, body)
        [result] = response["replica_election_results"]
        assert [(p["partition_id"], p["error_code"]) for p in result["partition_result"]] == [(0, 84), (7, 3)]
    everything = raw.request(43, 2, {"election_type": 1, "topic_partitions": None, "timeout_ms": 1000})
    assert everything["error_code"] == 0
    assert all(r["partition_result"] == [] for r in everything["replica_election_results"])
    assert topic in {r["topic"] for r in everything["replica_election_results"]}

    body = {"timeout_ms": 1000, "allow_replication_factor_change": True, "topics": [{"name": topic, "partitions": [
        {"partition_index": 0, "replicas": [1]}, {"partition_index": 1, "replicas": [2]},
        {"partition_index": 0, "replicas": None}, {"partition_index": 1, "replicas": []}]}]}
    for version in (0, 1):
        response = raw.request(45, version, body)
        assert response["error_code"] == 0
        assert [p["error_code"] for p in response["responses"][0]["partitions"]] == [0, 39, 85, 39]
    for topics in (None, [{"name": topic, "partition_indexes": [0, 1]}]):
        listed = raw.request(46, 0, {"timeout_ms": 1000, "topics": topics})
        assert listed["error_code"] == 0 and listed["topics"] == []


def test_acls_are_disabled_without_authorizer(raw: RawClient) -> None:
    described = raw.request(29, 2, {"resource_type_filter": 1, "resource_name_filter": None, "pattern_type_filter": 1,
                                    "principal_filter": None, "host_filter": None, "operation": 1,
                                    "permission_type": 1})
    assert described["error_code"] == 54 and described["error_message"]
    created = raw.request(30, 3, {"creations": [{"resource_type": 2, "resource_name": "t", "resource_pattern_type": 3,
                                                 "principal": "User:x", "host": "*", "operation": 3,
                                                 "permission_type": 3}]})
    assert [r["error_code"] for r in created["results"]] == [54]
    deleted = raw.request(31, 3, {"filters": [{"resource_type_filter": 1, "resource_name_filter": None,
                                               "pattern_type_filter": 1, "principal_filter": None,
                                               "host_filter": None, "operation": 1, "permission_type": 1}]})
    assert [r["error_code"] for r in deleted["filter_results"]] == [54]


def test_sasl_handshake_on_plaintext(fast_broker: BrokerProcess) -> None:
    with RawClient(fast_broker.bootstrap) as raw:
        response = raw.request(17, 1, {"mechanism": "PLAIN"})
        assert response["error_code"] == 34 and response["mechanisms"] == []


def test_scram_credentials(raw: RawClient) -> None:
    user = unique("alice")
    upsert = {"deletions": [], "upsertions": [
        {"name": user, "mechanism": 1, "iterations": 8192, "salt": b"salt", "salted_password": b"x" * 32},
        {"name": "", "mechanism": 1, "iterations": 8192, "salt": b"s", "salted_password": b"p"},
        {"name": "bob-weak", "mechanism": 2, "iterations": 10, "salt": b"s", "salted_password": b"p"},
        {"name": "carol-odd", "mechanism": 9, "iterations": 8192, "salt": b"s", "salted_password": b"p"}]}
    results = {r["user"]: r["error_code"] for r in raw.request(51, 0, upsert)["results"]}
    assert results == {user: 0, "": 93, "bob-weak": 93, "carol-odd": 33}
    described = raw.request(50, 0, {"users": [{"name": user}, {"name": "nobody"}]})["results"]
    by_user = {r["user"]: r for r in described}
    assert by_user[user]["credential_infos"] == [{"mechanism": 1, "iterations": 8192}]
    assert by_user["nobody"]["error_code"] == 91  # RESOURCE_NOT_FOUND
    assert any(r["user"] == user for r in raw.request(50, 0, {"users": None})["results"])
    twice = raw.request(50, 0, {"users": [{"name": user}, {"name": user}]})["results"]
    assert [r["error_code"] for r in twice] == [92]
    delete = {"deletions": [{"name": user, "mechanism": 1}, {"name": user + "x", "mechanism": 1}], "upsertions": []}
    results = {r["user"]: r["error_code"] for r in raw.request(51, 0, delete)["results"]}
    assert results == {user: 0, user + "x": 91}
    assert raw.request(50, 0, {"users": [{"name": user}]})["results"][0]["error_code"] == 91


def test_client_quotas(raw: RawClient) -> None:
    client = unique("cid")
    alter = {"validate_only": False, "entries": [
        {"entity": [{"entity_type": "client-id", "entity_name": client}],
         "ops": [{"key": "producer_byte_rate", "value": 1048576.0, "remove": False},
                 {"key": "consumer_byte_rate", "value": 2097152.0, "remove": False}]},
        {"entity": [{"entity_type": "user", "entity_name": None}],
         "ops": [{"key": "request_percentage", "value": 50.5, "remove": False}]},
        {"entity": [{"entity_type": "client-id", "entity_name": "bad"}],
         "ops": [{"key": "producer_byte_rate", "value": 1.5, "remove": False}]},
        {"entity": [{"entity_type": "client-id", "entity_name": "bad2"}],
         "ops": [{"key": "connection_creation_rate", "value": 5.0, "remove": False}]},
        {"entity": [{"entity_type": "ip", "entity_name": "127.0.0.1"}],
         "ops": [{"key": "connection_creation_rate", "value": 5.0, "remove": False}]},
    ]}
    for version in (0, 1):
        codes = [e["error_code"] for e in raw.request(49, version, alter)["entries"]]
        assert codes == [0, 0, 42, 42, 0]
    exact = {"components": [{"entity_type": "client-id", "match_type": 0, "match": client}], "strict": False}
    [entry] = raw.request(48, 1, exact)["entries"]
    assert entry["entity"] == [{"entity_type": "client-id", "entity_name": client}]
    assert {v["key"]: v["value"] for v in entry["values"]} == {"producer_byte_rate": 1048576.0,
                                                              "consumer_byte_rate": 2097152.0}
    defaults = raw.request(48, 1, {"components": [{"entity_type": "user", "match_type": 1, "match": None}],
                                   "strict": True})["entries"]
    assert [{v["key"]: v["value"] for v in e["values"]} for e in defaults] == [{"request_percentage": 50.5}]
    everything = raw.request(48, 1, {"components": [], "strict": False})["entries"]
    assert len(everything) >= 3
    bad = raw.request(48, 1, {"components": [{"entity_type": "ip", "match_type": 2, "match": None},
                                             {"entity_type": "user", "match_type": 2, "match": None}], "strict": False})
    assert bad["error_code"] == 42 and bad["entries"] is None
    remove = {"validate_only": False, "entries": [
        {"entity": [{"entity_type": "client-id", "entity_name": client}],
         "ops": [{"key": "producer_byte_rate", "value": 0.0, "remove": True},
                 {"key": "consumer_byte_rate", "value": 0.0, "remove": True}]},
        {"entity": [{"entity_type": "user", "entity_name": None}],
         "ops": [{"key": "request_percentage", "value": 0.0, "remove": True}]},
        {"entity": [{"entity_type": "ip", "entity_name": "127.0.0.1"}],
         "ops": [{"key": "connection_creation_rate", "value": 0.0, "remove": True}]}]}
    assert [e["error_code"] for e in raw.request(49, 1, remove)["entries"]] == [0, 0, 0]
    assert raw.request(48, 1, exact)["entries"] == []


@pytest.mark.parametrize("version", [0, 1, 2])
def test_alter_configs_legacy_versions(raw: RawClient, version: int) -> None:
    topic = unique("legacy")
    create_topic(raw, topic)
    body = {"resources": [{"resource_type": 2, "resource_name": topic,
                           "configs": [{"name": "retention.ms", "value": "5000"}]}], "validate_only": False}
    assert raw.request(33, version, body)["responses"][0]["error_code"] == 0
    bad = {"resources": [{"resource_type": 2, "resource_name": topic,
                          "configs": [{"name": "retention.ms", "value": "x"}]}], "validate_only": False}
    response = raw.request(33, version, bad)["responses"][0]
    assert response["error_code"] == 40 and "retention.ms" in response["error_message"]


def test_describe_topic_partitions_pages_at_the_configured_limit(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """max.request.partition.size.limit caps a page whatever response_partition_limit asks for."""
    broker = BrokerProcess(tmp_path / "data", "--set", "max.request.partition.size.limit=4").start()
    try:
        with RawClient(broker.bootstrap) as raw:
            topic = unique("paged")
            create_topic(raw, topic, partitions=10)
            body = {"topics": [{"name": topic}], "response_partition_limit": 2000, "cursor": None}
            first = raw.request(75, 0, body)
            assert [p["partition_index"] for p in first["topics"][0]["partitions"]] == [0, 1, 2, 3]
            assert first["next_cursor"]["partition_index"] == 4
    finally:
        broker.stop()
