"""Client quota accounting (kbroker.quotas) on a real in-memory Broker with an explicit clock: Kafka's rate over
sampled windows, its throttle time formula, entity precedence, and the fetch rule (a throttled fetch is not
counted). The end-to-end test runs once the produce and fetch paths call the hooks."""
from __future__ import annotations

from typing import Any

import pytest

from kbroker.broker import Broker, Endpoint
from kbroker.config import BrokerConfig
from tests.admin.conftest import create_topic, produce, unique
from tests.rawclient import RawClient
from wire.records import batch_from_tuples


@pytest.fixture
def broker() -> Broker:
    b = Broker(BrokerConfig(), data_dir=None, advertised=Endpoint("127.0.0.1", 9092))
    yield b
    b.close()


def set_quota(broker: Broker, entity: list[tuple[str, str | None]], **values: float) -> None:
    results = broker.quotas.alter([{"entity": [{"entity_type": t, "entity_name": n} for t, n in entity],
                                    "ops": [{"key": k, "value": v, "remove": False} for k, v in values.items()]}],
                                  validate_only=False)
    assert [code for _, code, _ in results] == [0], results


def test_no_quota_no_throttle(broker: Broker) -> None:
    assert broker.quotas.record_produce("anyone", 10**9, now_ms=0) == 0
    assert broker.quotas.fetch_max_bytes("anyone") == 2**31 - 1


def test_throttle_time_follows_kafka_formula(broker: Broker) -> None:
    set_quota(broker, [("client-id", "slow")], producer_byte_rate=1000)
    q = broker.quotas
    # 11 samples of 1 s: the rate is taken over the elapsed time plus the 10 whole windows missing
    assert q.record_produce("slow", 5000, now_ms=1_000_000) == 0  # 5000 B over 10 s: 500 B/s
    # 15,000 B over 10.1 s = 1485 B/s: (1485 - 1000) / 1000 * 10,100 ms
    assert q.record_produce("slow", 10_000, now_ms=1_000_100) == 4900
    assert q.record_produce("other", 10**6, now_ms=1_000_100) == 0  # another client id is not limited
    # long after, the old samples are gone
    assert q.record_produce("slow", 100, now_ms=1_100_000) == 0


def test_entity_precedence_and_shared_rates(broker: Broker) -> None:
    set_quota(broker, [("client-id", None)], producer_byte_rate=1000)  # every client id, each on its own
    set_quota(broker, [("user", "ANONYMOUS"), ("client-id", "vip")], producer_byte_rate=10**9)
    q = broker.quotas
    assert q.record_produce("a", 12_000, now_ms=0) > 0
    assert q.record_produce("b", 9_000, now_ms=0) == 0  # the default applies per client id
    assert q.record_produce("vip", 10**6, now_ms=0) == 0  # (user, client id) beats (default client id)
    set_quota(broker, [("user", None)], producer_byte_rate=2000)  # default user beats default client id
    assert q.record_produce("c", 15_000, now_ms=0) == 0
    assert q.record_produce("c", 10_000, now_ms=0) > 0


def test_throttled_fetch_is_not_counted(broker: Broker) -> None:
    set_quota(broker, [("client-id", "reader")], consumer_byte_rate=1000)
    q = broker.quotas
    assert q.fetch_max_bytes("reader") == 10_000
    assert q.record_fetch("reader", 9_000, now_ms=0) == 0
    assert q.record_fetch("reader", 50_000, now_ms=10) > 0  # throttled: answered empty, not counted
    assert q.record_fetch("reader", 900, now_ms=20) == 0  # 9,900 of 10,000 in the window


def test_quotas_validation_and_persistence(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = BrokerConfig()
    broker = Broker(config, data_dir=tmp_path / "data", advertised=Endpoint("127.0.0.1", 9092))
    try:
        set_quota(broker, [("user", "u1")], consumer_byte_rate=5000)
        results = broker.quotas.alter([
            {"entity": [], "ops": []},
            {"entity": [{"entity_type": "group", "entity_name": "g"}], "ops": []},
            {"entity": [{"entity_type": "user", "entity_name": "x"}],
             "ops": [{"key": "producer_byte_rate", "value": -1.0, "remove": False}]},
            {"entity": [{"entity_type": "user", "entity_name": "x"}, {"entity_type": "ip", "entity_name": "1.2.3.4"}],
             "ops": []},
        ], validate_only=False)
        assert [(code, message) for _, code, message in results] == [
            (42, "Invalid empty client quota entity"),
            (42, "Unhandled client quota entity type: group"),
            (42, "Quota producer_byte_rate must be greater than 0"),
            (42, "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId"),
        ]
    finally:
        broker.close()
    reopened = Broker(BrokerConfig(), data_dir=tmp_path / "data", advertised=Endpoint("127.0.0.1", 9092))
    try:
        assert reopened.quotas.describe([{"entity_type": "user", "match_type": 0, "match": "u1"}], False)[0][
            "values"] == [{"key": "consumer_byte_rate", "value": 5000.0}]
    finally:
        reopened.close()


def test_produce_throttled_end_to_end(raw: RawClient, fast_broker: Any) -> None:
    topic = unique("quota")
    create_topic(raw, topic)
    alter = {"validate_only": False, "entries": [{"entity": [{"entity_type": "client-id", "entity_name": "rawclient"}],
                                                  "ops": [{"key": "producer_byte_rate", "value": 1000.0,
                                                           "remove": False}]}]}
    assert raw.request(49, 1, alter)["entries"][0]["error_code"] == 0
    try:
        throttles = []
        for _ in range(3):
            body = {"transactional_id": None, "acks": 1, "timeout_ms": 5000, "topic_data": [
                {"name": topic, "partition_data": [{"index": 0, "records": batch_from_tuples(
                    [(b"k", b"x" * 10_000, None, None)])}]}]}
            with RawClient(fast_broker.bootstrap) as c:  # a throttled connection is muted (KIP-219): one each
                throttles.append(c.request(0, 9, body)["throttle_time_ms"])
        assert throttles[-1] > 0
    finally:
        with RawClient(fast_broker.bootstrap) as other:
            alter["entries"][0]["ops"][0]["remove"] = True
            other.request(49, 1, alter)
    with RawClient(fast_broker.bootstrap) as fresh:
        assert produce(fresh, topic, 0, batch_from_tuples([(b"k", b"v", None, None)]))["error_code"] == 0
