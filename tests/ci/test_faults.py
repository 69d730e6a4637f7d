"""Fault injection seen by real clients: each fault must look exactly like the real broker fault it stands for."""
from __future__ import annotations

import json
import time
import urllib.request
from typing import Any, Callable

import pytest

confluent_kafka = pytest.importorskip("confluent_kafka")
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, Producer, TopicPartition  # noqa: E402

from kbroker.testing import KafkaBroker, WireClient  # noqa: E402
from wire import records as rec  # noqa: E402
from wire.errors import ErrorCode  # noqa: E402
from tests.helpers import wait_until  # noqa: E402

FAST_GROUPS = {"group.min.session.timeout.ms": "500"}
pytest_plugins = ["pytester"]




def deliver(producer: Producer, topic: str, values: list[bytes], timeout: float = 30.0) -> list[tuple[Any, int]]:
    reports: list[tuple[Any, int]] = []
    for v in values:
        producer.produce(topic, v, on_delivery=lambda err, msg: reports.append((err, msg.offset())))
    assert producer.flush(timeout) == 0, "messages still in flight"
    return reports


# ---------------------------------------------------------------------------------------------------------------
# errors


def test_not_leader_twice_then_idempotent_producer_delivers_exactly_once(kafka_broker: KafkaBroker) -> None:
    topic = kafka_broker.create_topic()
    fault = kafka_broker.faults.inject_error("Produce", "NOT_LEADER_OR_FOLLOWER", count=2)
    producer = Producer(kafka_broker.config(**{"enable.idempotence": True, "linger.ms": 5, "retry.backoff.ms": 20}))
    values = [f"m{i}".encode() for i in range(20)]
    reports = deliver(producer, topic, values)
    assert kafka_broker.faults.get(fault) is None, "both injected errors were met"
    assert all(err is None for err, _ in reports), reports
    assert sorted(offset for _, offset in reports) == list(range(20))
    assert kafka_broker.values(topic) == values  # each exactly once, in order


def test_error_for_one_partition_goes_into_its_entry_only(kafka_broker: KafkaBroker) -> None:
    topic = kafka_broker.create_topic(partitions=2)
    kafka_broker.faults.inject_error("Produce", ErrorCode.NOT_LEADER_OR_FOLLOWER, topic=topic, partition=1)
    batch = rec.batch_from_tuples([(None, b"x", None, None)])
    body = {"transactional_id": None, "acks": -1, "timeout_ms": 5000,
            "topic_data": [{"name": topic, "partition_data": [{"index": 0, "records": batch},
                                                              {"index": 1, "records": batch}]}]}
    with WireClient(kafka_broker.bootstrap) as c:
        response = c.request(0, 8, body)
    parts = {p["index"]: p for t in response["responses"] for p in t["partition_responses"]}
    assert parts[0]["error_code"] == 0 and parts[0]["base_offset"] == 0
    assert parts[1]["error_code"] == ErrorCode.NOT_LEADER_OR_FOLLOWER and parts[1]["base_offset"] == -1
    assert len(kafka_broker.consume_all(topic, partition=0)) == 1
    assert kafka_broker.consume_all(topic, partition=1) == []  # not applied, as a real broker would not


def test_fault_on_another_topic_leaves_this_one_alone(kafka_broker: KafkaBroker) -> None:
    topic, other = kafka_broker.create_topic(), kafka_broker.create_topic()
    fault = kafka_broker.faults.inject_error("Produce", "NOT_LEADER_OR_FOLLOWER", topic=other)
    kafka_broker.produce(topic, [b"a"])
    assert kafka_broker.faults.get(fault)["count"] == 1  # not used up by a request that does not name it


def test_fetch_errors_make_the_consumer_retry(kafka_broker: KafkaBroker) -> None:
    topic = kafka_broker.create_topic()
    kafka_broker.produce(topic, [b"1", b"2", b"3"])
    fault = kafka_broker.faults.inject_error("Fetch", "NOT_LEADER_OR_FOLLOWER", count=2, topic=topic)
    consumer = kafka_broker.consumer(**{"enable.auto.commit": False, "topic.metadata.refresh.interval.ms": 1000})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got: list[bytes] = []
    deadline = time.monotonic() + 30
    while len(got) < 3 and time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is not None and not msg.error():
            got.append(msg.value())
    assert got == [b"1", b"2", b"3"]
    assert kafka_broker.faults.get(fault) is None


def test_group_level_error_for_a_whole_api(kafka_broker: KafkaBroker) -> None:
    kafka_broker.faults.inject_error("FindCoordinator", "COORDINATOR_NOT_AVAILABLE", count=1)
    with WireClient(kafka_broker.bootstrap) as c:
        first = c.request(10, 4, {"key_type": 0, "coordinator_keys": ["g1", "g2"]})
        second = c.request(10, 4, {"key_type": 0, "coordinator_keys": ["g1"]})
        old = c.request(10, 2, {"key": "g1", "key_type": 0})
    assert [(e["key"], e["error_code"]) for e in first["coordinators"]] == [
        ("g1", ErrorCode.COORDINATOR_NOT_AVAILABLE), ("g2", ErrorCode.COORDINATOR_NOT_AVAILABLE)]
    assert second["coordinators"][0]["error_code"] == 0
    assert old["error_code"] == 0


_TWO_TESTS = """
def test_arms_a_fault_and_leaves_it(kafka_broker):
    kafka_broker.faults.inject_error("Metadata", "UNKNOWN_SERVER_ERROR", count=None)
    assert len(kafka_broker.faults.list()) == 1


def test_finds_no_fault(kafka_broker, kafka_broker_session):
    assert kafka_broker is kafka_broker_session  # the same shared broker as the test before
    assert kafka_broker.faults.list() == []
    assert kafka_broker.topics() is not None
"""


def test_faults_are_cleared_between_tests_on_a_shared_broker(pytester: pytest.Pytester) -> None:
    """A session of its own runs the two tests in order, so this does not depend on the order of this module."""
    pytester.makepyfile(test_two=_TWO_TESTS)
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


# ---------------------------------------------------------------------------------------------------------------
# delays, drops, throttling


def test_delay_holds_the_response(kafka_broker: KafkaBroker) -> None:
    fault = kafka_broker.faults.delay("Metadata", 300)
    with WireClient(kafka_broker.bootstrap) as c:
        body = {"topics": None, "allow_auto_topic_creation": False, "include_topic_authorized_operations": False}
        began = time.perf_counter()
        c.request(3, 9, body)
        delayed = time.perf_counter() - began
        # the delay was for one response: it is used up, so the next request is not held (no timed bound on it)
        assert kafka_broker.faults.get(fault) is None
        c.request(3, 9, body)
    assert delayed >= 0.3


def test_dropped_produce_after_apply_is_not_duplicated_by_the_idempotent_retry(kafka_broker: KafkaBroker) -> None:
    topic = kafka_broker.create_topic()
    fault = kafka_broker.faults.drop_connection("Produce", count=1)
    producer = Producer(kafka_broker.config(**{"enable.idempotence": True, "linger.ms": 5, "retry.backoff.ms": 20}))
    values = [f"v{i}".encode() for i in range(5)]
    reports = deliver(producer, topic, values)
    assert kafka_broker.faults.get(fault) is None
    assert all(err is None for err, _ in reports)
    assert kafka_broker.values(topic) == values


def test_drop_before_apply_leaves_nothing_behind(kafka_broker: KafkaBroker) -> None:
    topic = kafka_broker.create_topic()
    kafka_broker.faults.drop_connection("CreatePartitions", after_apply=False)
    with WireClient(kafka_broker.bootstrap) as c:
        with pytest.raises(ConnectionError):
            c.request(37, 1, {"topics": [{"name": topic, "count": 3, "assignments": None}], "timeout_ms": 5000,
                              "validate_only": False})
    with WireClient(kafka_broker.bootstrap) as c:
        assert c.partitions(topic) == [0]


def test_throttle_reaches_the_client(kafka_broker: KafkaBroker) -> None:
    topic = kafka_broker.create_topic()
    events: list[Any] = []
    producer = Producer(kafka_broker.config(throttle_cb=events.append, **{"linger.ms": 0}))
    deliver(producer, topic, [b"warm-up"])
    kafka_broker.faults.throttle("Produce", 400)
    began = time.perf_counter()
    deliver(producer, topic, [b"throttled"])
    producer.produce(topic, b"after")  # the muted connection holds this one back
    producer.flush(30)
    elapsed = time.perf_counter() - began
    wait_until(lambda: producer.poll(0.1) is not None and events, 10, what="a throttle event")
    assert any(e.throttle_time >= 0.4 for e in events), events
    assert elapsed >= 0.35


# ---------------------------------------------------------------------------------------------------------------
# groups


def _consumer(kafka: KafkaBroker, group: str, **extra: Any) -> Consumer:
    return kafka.consumer(group, **{"enable.auto.commit": False, "session.timeout.ms": 6000,
                                    "heartbeat.interval.ms": 200, **extra})


def _poll_values(consumer: Consumer, n: int, timeout: float = 30.0) -> list[bytes]:
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is not None and not msg.error():
            got.append(msg.value())
    return got


def test_offset_commit_dropped_after_apply_then_retried_is_harmless(kafka_broker: KafkaBroker) -> None:
    topic = kafka_broker.create_topic()
    group = kafka_broker.unique_name("group")
    values = [f"r{i}".encode() for i in range(10)]
    kafka_broker.produce(topic, values)
    # After a dropped coordinator connection librdkafka may spend seconds re-finding the coordinator (its retried
    # OffsetCommit fails on each new connection, which marks the coordinator dead again), sending no heartbeat
    # meanwhile; with a 6 s session the broker then rightly expires the member (UNKNOWN_MEMBER_ID on the retry),
    # as Kafka would. A session as long as librdkafka's default keeps this test about the retried commit.
    consumer = _consumer(kafka_broker, group, **{"session.timeout.ms": 45000, "heartbeat.interval.ms": 1000})
    consumer.subscribe([topic])
    assert _poll_values(consumer, 10) == values
    [member] = kafka_broker.faults.members(group)
    fault = kafka_broker.faults.drop_connection("OffsetCommit")
    offsets = [TopicPartition(topic, 0, 10)]
    try:  # librdkafka reports the broken connection (or retries by itself: both are fine)
        consumer.commit(offsets=offsets, asynchronous=False)
    except KafkaException:
        pass
    assert kafka_broker.faults.get(fault) is None, "the commit met the fault"
    admin = kafka_broker.admin()
    request = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])]
    stored = admin.list_consumer_group_offsets(request)[group].result(timeout=10)
    assert stored.topic_partitions[0].offset == 10, "applied before the connection dropped"
    consumer.commit(offsets=offsets, asynchronous=False)  # the retry of a commit the broker had applied
    committed = consumer.committed([TopicPartition(topic, 0)], timeout=10)
    assert committed[0].offset == 10
    assert kafka_broker.faults.members(group) == [member]  # a dropped connection does not remove a member
    consumer.close()
    second = _consumer(kafka_broker, group)
    second.subscribe([topic])
    kafka_broker.produce(topic, [b"next"])
    assert _poll_values(second, 1) == [b"next"]  # resumes after the commit: nothing read twice


def test_dropped_connection_does_not_remove_a_group_member(kafka_broker: KafkaBroker) -> None:
    """Kafka removes a classic member only on session timeout or LeaveGroup, never because a connection closed:
    the member carries on over a new connection, in the same generation."""
    group = kafka_broker.unique_name("group")
    join = {"group_id": group, "session_timeout_ms": 30000, "rebalance_timeout_ms": 30000, "member_id": "",
            "group_instance_id": None, "protocol_type": "consumer", "protocols": [{"name": "range", "metadata": b""}],
            "reason": None}
    with WireClient(kafka_broker.bootstrap) as c:
        first = c.request(11, 7, join)
        assert first["error_code"] == ErrorCode.MEMBER_ID_REQUIRED
        member = first["member_id"]
        joined = c.request(11, 7, {**join, "member_id": member})
        assert joined["error_code"] == 0 and joined["generation_id"] == 1
        sync = {"group_id": group, "generation_id": 1, "member_id": member, "group_instance_id": None,
                "protocol_type": "consumer", "protocol_name": "range",
                "assignments": [{"member_id": member, "assignment": b"a"}]}
        assert c.request(14, 5, sync)["error_code"] == 0
        kafka_broker.faults.drop_connection("Heartbeat")
        heartbeat = {"group_id": group, "generation_id": 1, "member_id": member, "group_instance_id": None}
        with pytest.raises(ConnectionError):
            c.request(12, 4, heartbeat)
    with WireClient(kafka_broker.bootstrap) as c:
        assert c.request(12, 4, heartbeat)["error_code"] == 0
        [described] = c.request(15, 5, {"groups": [group], "include_authorized_operations": False})["groups"]
    assert described["group_state"] == "Stable" and [m["member_id"] for m in described["members"]] == [member]
    assert kafka_broker.faults.members(group) == [member]


def test_expired_member_makes_the_group_rebalance(request: pytest.FixtureRequest,
                                                  kafka_broker_factory: Callable[..., KafkaBroker]) -> None:
    kafka = kafka_broker_factory(config=FAST_GROUPS)
    topic = kafka.create_topic(partitions=2)
    group = kafka.unique_name("group")
    assignments: dict[str, list[list[int]]] = {"a": [], "b": []}

    def on_assign(name: str) -> Callable[[Any, list[TopicPartition]], None]:
        return lambda consumer, parts: assignments[name].append(sorted(p.partition for p in parts))

    a, b = _consumer(kafka, group), _consumer(kafka, group)
    a.subscribe([topic], on_assign=on_assign("a"))
    b.subscribe([topic], on_assign=on_assign("b"))

    def settled() -> bool:
        a.poll(0.05)
        b.poll(0.05)
        return bool(assignments["a"] and assignments["b"] and assignments["a"][-1] and assignments["b"][-1]
                    and len(kafka.faults.members(group)) == 2)

    wait_until(settled, 30, what="two members with a partition each")
    members = kafka.faults.members(group)
    before = {k: len(v) for k, v in assignments.items()}
    expired = kafka.faults.expire_member(group, members[0])
    assert expired == [members[0]]
    assert members[0] not in kafka.faults.members(group)

    def rebalanced() -> bool:
        a.poll(0.05)
        b.poll(0.05)
        latest = sorted(p for k in assignments for p in assignments[k][-1])
        # the members may pass through an intermediate generation: wait for the one both settle in
        return (all(len(assignments[k]) > before[k] for k in assignments) and len(kafka.faults.members(group)) == 2
                and latest == [0, 1])

    wait_until(rebalanced, 30, what="the group to rebalance and both members to be back, splitting the partitions")
    final = sorted(p for k in assignments for p in assignments[k][-1])
    assert final == [0, 1]


def test_expire_unknown_group_is_an_error(kafka_broker: KafkaBroker) -> None:
    with pytest.raises(KeyError):
        kafka_broker.faults.expire_member("no-such-group")


# ---------------------------------------------------------------------------------------------------------------
# the control endpoint, for other languages


@pytest.mark.kafka_broker(mode="subprocess")
def test_control_endpoint_over_http(kafka_broker: KafkaBroker) -> None:
    assert kafka_broker.control_url
    topic = kafka_broker.create_topic()

    def http(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(kafka_broker.control_url + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {kafka_broker.control_token}"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    status, fault = http("POST", "/faults", {"kind": "error", "api": "produce", "error": "NOT_LEADER_OR_FOLLOWER",
                                             "count": 1, "topic": topic, "partition": 0})
    assert status == 201 and fault["error"] == "NOT_LEADER_OR_FOLLOWER" and fault["api"] == "Produce"
    assert http("GET", "/faults")[1][0]["id"] == fault["id"]
    with pytest.raises(Exception, match="NOT_LEADER_OR_FOLLOWER"):
        kafka_broker.produce(topic, [b"x"])
    assert http("GET", "/faults") == (200, [])
    assert http("POST", "/faults", {"kind": "error", "api": "Nope", "error": 6})[0] == 400
    assert http("POST", "/faults", {"kind": "explode", "api": "Produce"})[0] == 400
    assert http("DELETE", "/faults/999")[0] == 404
    assert http("POST", "/groups/none/expire")[0] == 404
    assert http("GET", "/health")[1]["status"] == "ok"
