"""Authorization checked where Kafka checks it, seen by real clients. On a PLAINTEXT listener the principal is
User:ANONYMOUS; the broker runs StandardAuthorizer with allow.everyone.if.no.acl.found=false, and each test sets
the ACLs it needs on the broker (as an administrator would with kafka-acls)."""
from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from kbroker.security.acl import AclBinding, AclFilter, Operation as Op, PatternType as PT, Permission, \
    ResourceType as RT
from kbroker.testing import KafkaBroker

ANON = "User:ANONYMOUS"
AUTHZ = {"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
         "super.users": "User:admin", "allow.everyone.if.no.acl.found": "false"}


def allow(rt, name, op, pt=PT.LITERAL, perm=Permission.ALLOW, principal=ANON):
    return AclBinding(rt, name, pt, principal, "*", op, perm)


@pytest.fixture
def kafka():
    with KafkaBroker.start(config=AUTHZ) as k:
        yield k


def set_acls(kafka, *acls):
    authz = kafka.runner.broker.security.authorizer
    kafka.runner.call(lambda: (authz.delete(AclFilter()), authz.create(acls)))


def make_topics(kafka, *names):
    """Created through CreateTopics, for which ANONYMOUS gets CREATE on the cluster meanwhile (each test then
    sets the ACLs it needs, replacing this one)."""
    set_acls(kafka, allow(RT.CLUSTER, "kafka-cluster", Op.CREATE))
    for name in names:
        kafka.create_topic(name)


def produce(kafka, topic, **extra):
    errors = []
    p = Producer({"bootstrap.servers": kafka.bootstrap, "message.timeout.ms": 8000, **extra})
    p.produce(topic, b"v", on_delivery=lambda err, msg: errors.append(err))
    p.flush(15)
    return errors


def test_issue_scenario_write_a_refused_b_read_group(kafka):
    make_topics(kafka, "A", "B")
    set_acls(kafka, allow(RT.TOPIC, "A", Op.WRITE), allow(RT.TOPIC, "A", Op.READ), allow(RT.GROUP, "G", Op.READ))
    assert produce(kafka, "A") == [None]
    errs = produce(kafka, "B")
    assert errs and errs[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    c = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": "G", "auto.offset.reset": "earliest"})
    try:
        c.subscribe(["A"])
        msg = None
        for _ in range(30):
            msg = c.poll(1)
            if msg is not None and not msg.error():
                break
        assert msg is not None and msg.value() == b"v"
        c.commit(asynchronous=False)
    finally:
        c.close()
    h = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": "H", "auto.offset.reset": "earliest"})
    try:
        h.subscribe(["A"])
        err = None
        for _ in range(20):
            msg = h.poll(1)
            if msg is not None and msg.error():
                err = msg.error()
                break
        assert err is not None and err.code() == KafkaError.GROUP_AUTHORIZATION_FAILED
    finally:
        h.close()


def test_prefixed_allow_and_deny_wins(kafka):
    make_topics(kafka, "orders-eu", "orders-secret")
    set_acls(kafka, allow(RT.TOPIC, "orders-", Op.WRITE, PT.PREFIXED),
             allow(RT.TOPIC, "orders-secret", Op.WRITE, perm=Permission.DENY, principal="User:*"))
    assert produce(kafka, "orders-eu") == [None]
    errs = produce(kafka, "orders-secret")
    assert errs[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_super_user():
    with KafkaBroker.start(config={**AUTHZ, "super.users": "User:admin;User:ANONYMOUS"}) as k:
        assert produce(k, "anything") == [None]


def test_denied_topic_does_not_leak(kafka):
    make_topics(kafka, "visible", "hidden")
    set_acls(kafka, allow(RT.TOPIC, "visible", Op.DESCRIBE), allow(RT.GROUP, "g", Op.DESCRIBE),
             allow(RT.CLUSTER, "kafka-cluster", Op.DESCRIBE))
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    topics = admin.list_topics(timeout=10).topics
    assert "visible" in topics and "hidden" not in topics
    md = admin.list_topics(topic="hidden", timeout=10).topics["hidden"]
    assert md.error is not None and md.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # DescribeConfigs
    res = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, "hidden")], request_timeout=10)
    with pytest.raises(KafkaException) as exc:
        next(iter(res.values())).result(timeout=10)
    assert exc.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # ListOffsets and OffsetFetch through the wire client
    wire = kafka.wire()
    lo = wire.request(2, 7, {"replica_id": -1, "isolation_level": 0, "topics": [
        {"name": "hidden", "partitions": [{"partition_index": 0, "current_leader_epoch": -1, "timestamp": -1}]}]})
    assert lo["topics"][0]["partitions"][0]["error_code"] == KafkaError.TOPIC_AUTHORIZATION_FAILED
    of = wire.request(9, 7, {"group_id": "g", "topics": None, "require_stable": False})
    assert of["error_code"] == 0 and all(t["name"] != "hidden" for t in of["topics"])
    of = wire.request(9, 7, {"group_id": "g", "topics": [{"name": "hidden", "partition_indexes": [0]}],
                             "require_stable": False})
    assert of["topics"][0]["partitions"][0]["error_code"] == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # ListGroups: without DESCRIBE on the cluster, only the groups the principal may describe
    set_acls(kafka, allow(RT.GROUP, "*", Op.READ), allow(RT.TOPIC, "visible", Op.ALL))
    for gid in ("g", "other"):
        oc = wire.request(8, 8, {"group_id": gid, "generation_id_or_member_epoch": -1, "member_id": "",
                                 "group_instance_id": None, "topics": [
                                     {"name": "visible", "partitions": [{"partition_index": 0, "committed_offset": 0,
                                                                         "committed_leader_epoch": -1,
                                                                         "committed_metadata": ""}]}]})
        assert oc["topics"][0]["partitions"][0]["error_code"] == 0
    assert {g["group_id"] for g in wire.request(16, 4, {"states_filter": []})["groups"]} == {"g", "other"}
    set_acls(kafka, allow(RT.GROUP, "g", Op.DESCRIBE))
    assert [g["group_id"] for g in wire.request(16, 4, {"states_filter": []})["groups"]] == ["g"]
    set_acls(kafka, allow(RT.CLUSTER, "kafka-cluster", Op.DESCRIBE))
    assert {g["group_id"] for g in wire.request(16, 4, {"states_filter": []})["groups"]} == {"g", "other"}


def test_metadata_auto_create_needs_create(kafka):
    set_acls(kafka, allow(RT.TOPIC, "new-", Op.DESCRIBE, PT.PREFIXED))
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    wire = kafka.wire()
    md = wire.request(3, 9, {"topics": [{"name": "new-one"}], "allow_auto_topic_creation": True,
                             "include_topic_authorized_operations": False})
    assert md["topics"][0]["error_code"] == KafkaError.TOPIC_AUTHORIZATION_FAILED
    set_acls(kafka, allow(RT.TOPIC, "new-", Op.DESCRIBE, PT.PREFIXED), allow(RT.TOPIC, "new-", Op.CREATE, PT.PREFIXED))
    md = wire.request(3, 9, {"topics": [{"name": "new-one"}], "allow_auto_topic_creation": True,
                             "include_topic_authorized_operations": True})
    t = md["topics"][0]
    assert t["error_code"] == 0
    assert t["topic_authorized_operations"] == (1 << Op.CREATE) | (1 << Op.DESCRIBE)
    fs = admin.create_topics([NewTopic("other-topic", 1)], request_timeout=10)
    with pytest.raises(KafkaException) as exc:
        fs["other-topic"].result(timeout=10)
    assert exc.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_transactional_id_checks(kafka):
    make_topics(kafka, "tx-topic")
    set_acls(kafka, allow(RT.TOPIC, "tx-topic", Op.WRITE), allow(RT.TRANSACTIONAL_ID, "tx-ok", Op.WRITE))
    p = Producer({"bootstrap.servers": kafka.bootstrap, "transactional.id": "tx-ok"})
    p.init_transactions(15)
    p.begin_transaction()
    p.produce("tx-topic", b"in-txn")
    p.commit_transaction(15)
    bad = Producer({"bootstrap.servers": kafka.bootstrap, "transactional.id": "tx-denied"})
    with pytest.raises(KafkaException) as exc:
        bad.init_transactions(15)
    assert exc.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED


def test_idempotent_producer_needs_idempotent_write_or_topic_write(kafka):
    make_topics(kafka, "idem")
    wire = kafka.wire()
    body = {"transactional_id": None, "transaction_timeout_ms": 60000, "producer_id": -1, "producer_epoch": -1}
    assert wire.request(22, 4, body)["error_code"] == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    set_acls(kafka, allow(RT.TOPIC, "idem", Op.WRITE))
    assert wire.request(22, 4, body)["error_code"] == 0


def test_more_apis_checked(kafka):
    make_topics(kafka, "secret")
    set_acls(kafka, allow(RT.TOPIC, "other", Op.ALL))  # nothing on "secret"
    wire = kafka.wire()
    TAF = KafkaError.TOPIC_AUTHORIZATION_FAILED
    cp = wire.request(37, 3, {"topics": [{"name": "secret", "count": 2, "assignments": None}], "timeout_ms": 5000,
                              "validate_only": False})
    assert cp["results"][0]["error_code"] == TAF
    dr = wire.request(21, 2, {"topics": [{"name": "secret", "partitions": [{"partition_index": 0, "offset": 0}]}],
                              "timeout_ms": 5000})
    assert dr["topics"][0]["partitions"][0]["error_code"] == TAF
    ac = wire.request(44, 1, {"resources": [{"resource_type": 2, "resource_name": "secret", "configs": [
        {"name": "retention.ms", "config_operation": 0, "value": "1000"}]}], "validate_only": False})
    assert ac["responses"][0]["error_code"] == TAF
    dtp = wire.request(75, 0, {"topics": [], "response_partition_limit": 100, "cursor": None})
    assert all(t["name"] != "secret" for t in dtp["topics"])
    dtp = wire.request(75, 0, {"topics": [{"name": "secret"}], "response_partition_limit": 100, "cursor": None})
    assert dtp["topics"][0]["error_code"] == TAF
    ofe = wire.request(23, 4, {"replica_id": -1, "topics": [{"topic": "secret", "partitions": [
        {"partition": 0, "current_leader_epoch": -1, "leader_epoch": 0}]}]})
    assert ofe["topics"][0]["partitions"][0]["error_code"] == TAF
    dt = wire.request(65, 0, {"transactional_ids": ["tx"]})
    assert dt["transaction_states"][0]["error_code"] == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
