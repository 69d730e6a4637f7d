"""Group administration through AdminClients (confluent-kafka and kafka-python): list, describe with members and
assignment, committed offsets, alter/reset offsets, delete offsets, remove members, delete groups."""
from __future__ import annotations

import pytest

from tests.groups.conftest import create_topic, unique, wait_until

confluent_kafka = pytest.importorskip("confluent_kafka")
kafka = pytest.importorskip("kafka")
from confluent_kafka import (  # noqa: E402
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    TopicPartition,
)
from confluent_kafka import Consumer, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402

TIMEOUT = 20


def produce(bootstrap: str, topic: str, partitions: int, per_partition: int) -> None:
    p = Producer({"bootstrap.servers": bootstrap})
    for i in range(per_partition * partitions):
        p.produce(topic, value=b"x%d" % i, partition=i % partitions)
    assert p.flush(30) == 0


def live_member(bootstrap: str, group: str, topic: str, partitions: int) -> Consumer:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "client.id": "admin-test-client",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
    c.subscribe([topic])
    wait_until(lambda: (c.poll(0.1), len(c.assignment()) == partitions)[1], 30, what="the member's assignment")
    return c


def test_confluent_admin_groups(shared_broker) -> None:
    bootstrap = shared_broker.bootstrap
    topic, group = unique("t"), unique("g")
    create_topic(bootstrap, topic, 3)
    produce(bootstrap, topic, 3, 10)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    c = live_member(bootstrap, group, topic, 3)
    try:
        c.commit(offsets=[TopicPartition(topic, p, 2 + p, metadata=f"m{p}") for p in range(3)], asynchronous=False)
        listed = admin.list_consumer_groups(request_timeout=TIMEOUT).result(TIMEOUT)
        mine = [g for g in listed.valid if g.group_id == group]
        assert len(mine) == 1 and mine[0].state == ConsumerGroupState.STABLE and mine[0].is_simple_consumer_group is False
        stable_only = admin.list_consumer_groups(states={ConsumerGroupState.EMPTY}).result(TIMEOUT)
        assert group not in {g.group_id for g in stable_only.valid}
        described = admin.describe_consumer_groups([group], request_timeout=TIMEOUT)[group].result(TIMEOUT)
        assert described.state == ConsumerGroupState.STABLE
        assert described.partition_assignor == "range"
        assert len(described.members) == 1
        member = described.members[0]
        assert member.client_id == "admin-test-client" and member.host == "/127.0.0.1"
        assert sorted(tp.partition for tp in member.assignment.topic_partitions) == [0, 1, 2]
        assert described.coordinator.id == 1
        offsets = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(TIMEOUT)
        assert {(tp.partition, tp.offset, tp.metadata) for tp in offsets.topic_partitions} == {
            (p, 2 + p, f"m{p}") for p in range(3)}
        # altering offsets needs an empty group
        bad = admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, 9)])])
        try:
            refused = bad[group].result(TIMEOUT).topic_partitions[0].error
        except confluent_kafka.KafkaException as exc:
            refused = exc.args[0]
        assert refused is not None and refused.code() == confluent_kafka.KafkaError.UNKNOWN_MEMBER_ID
        # a live group cannot be deleted
        with pytest.raises(confluent_kafka.KafkaException) as info:
            admin.delete_consumer_groups([group], request_timeout=TIMEOUT)[group].result(TIMEOUT)
        assert info.value.args[0].code() == confluent_kafka.KafkaError.NON_EMPTY_GROUP
    finally:
        c.close()
    described = admin.describe_consumer_groups([group])[group].result(TIMEOUT)
    assert described.state == ConsumerGroupState.EMPTY and described.members == []
    altered = admin.alter_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, 7), TopicPartition(topic, 1, 0)])])
    result = altered[group].result(TIMEOUT)
    assert all(tp.error is None for tp in result.topic_partitions)
    offsets = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(3)])])[group].result(TIMEOUT)
    assert [tp.offset for tp in sorted(offsets.topic_partitions, key=lambda tp: tp.partition)] == [7, 0, 4]
    admin.delete_consumer_groups([group])[group].result(TIMEOUT)
    listed = admin.list_consumer_groups().result(TIMEOUT)
    assert group not in {g.group_id for g in listed.valid}
    missing = admin.describe_consumer_groups([group])[group]
    try:
        assert missing.result(TIMEOUT).state in (ConsumerGroupState.DEAD, ConsumerGroupState.UNKNOWN)
    except confluent_kafka.KafkaException as exc:
        assert exc.args[0].code() == confluent_kafka.KafkaError.GROUP_ID_NOT_FOUND


def test_kafka_python_admin_groups(shared_broker) -> None:
    from kafka import TopicPartition as KTP
    from kafka.admin import KafkaAdminClient, MemberToRemove, OffsetSpec
    from kafka.structs import OffsetAndMetadata

    bootstrap = shared_broker.bootstrap
    topic, group, simple = unique("t"), unique("g"), unique("simple")
    create_topic(bootstrap, topic, 3)
    produce(bootstrap, topic, 3, 10)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=20000)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "group.instance.id": "pinned",
                  "enable.auto.commit": False, "session.timeout.ms": 6000})
    c.subscribe([topic])
    try:
        wait_until(lambda: (c.poll(0.1), len(c.assignment()) == 3)[1], 30, what="the member's assignment")
        c.commit(offsets=[TopicPartition(topic, p, 5) for p in range(3)], asynchronous=False)
        groups = {g["group_id"]: g for g in admin.list_groups()}
        assert groups[group]["protocol_type"] == "consumer"
        described = admin.describe_groups([group])[group]
        assert described["group_state"] == "Stable" and described["protocol_data"] == "range"
        assert len(described["members"]) == 1
        member = described["members"][0]
        assert member["group_instance_id"] == "pinned"
        offsets = admin.list_group_offsets({group: None})[group]
        assert {tp.partition: om.offset for tp, om in offsets.items()} == {0: 5, 1: 5, 2: 5}
        # OffsetDelete refuses the topic the live group is subscribed to
        result = admin.delete_group_offsets(group, [KTP(topic, 0)])
        assert result[KTP(topic, 0)].errno == 86  # GROUP_SUBSCRIBED_TO_TOPIC
        # remove the static member by its instance id (LeaveGroup v3+)
        removed = admin.remove_group_members(group, [MemberToRemove(group_instance_id="pinned")])
        assert all(err.errno == 0 for err in removed.values())
        wait_until(lambda: admin.describe_groups([group])[group]["group_state"] == "Empty", 10, what="an empty group")
    finally:
        c.close()
    # alter, reset, delete offsets on the now empty group, and a simple group made by a manual commit
    altered = admin.alter_group_offsets(group, {KTP(topic, 0): OffsetAndMetadata(1, "meta", -1)})
    assert all(err.errno == 0 for err in altered.values())
    reset = admin.reset_group_offsets(group, {KTP(topic, 1): OffsetSpec.EARLIEST, KTP(topic, 2): OffsetSpec.LATEST})
    assert {tp.partition: r["offset"] for tp, r in reset.items()} == {1: 0, 2: 10}
    deleted = admin.delete_group_offsets(group, [KTP(topic, 0)])
    assert deleted[KTP(topic, 0)].errno == 0
    offsets = admin.list_group_offsets({group: None})[group]
    assert {tp.partition: om.offset for tp, om in offsets.items()} == {1: 0, 2: 10}
    admin.alter_group_offsets(simple, {KTP(topic, 0): OffsetAndMetadata(3, "", -1)})
    several = admin.list_group_offsets({group: None, simple: [KTP(topic, 0)]})
    assert several[simple][KTP(topic, 0)].offset == 3
    results = dict(admin.delete_groups([group, simple, unique("never")]))
    assert results[group] == results[simple] == "OK"
    assert "GroupIdNotFound" in str(list(results.values())[2])
    left = {g["group_id"] for g in admin.list_groups()}
    assert group not in left and simple not in left
    admin.close()
