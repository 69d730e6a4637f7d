"""Share-group tests: a broker whose lock durations may be short, and helpers around confluent-kafka's
ShareConsumer (librdkafka 2.16's KIP-932 client) and raw frames."""
from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import module_broker
from tests.helpers import create_topics, unique, wait_until  # noqa: F401 (re-exported to the tests)
from tests.rawclient import RawClient

confluent_kafka = pytest.importorskip("confluent_kafka")
if not hasattr(confluent_kafka, "ShareConsumer"):
    pytest.skip("this confluent-kafka has no ShareConsumer (2.16+ has)", allow_module_level=True)

from confluent_kafka import Producer, ShareConsumer  # noqa: E402
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType  # noqa: E402

SHORT_LOCKS = ("--set", "group.share.min.record.lock.duration.ms=1000",
               "--set", "group.consumer.min.session.timeout.ms=500")

share_broker = module_broker("share", *SHORT_LOCKS, doc="Accepts acquisition locks of a second or two.")


def set_group_configs(bootstrap: str, group: str, configs: dict[str, str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource(ResourceType.GROUP, group, incremental_configs=[
        ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in configs.items()])
    admin.incremental_alter_configs([resource])[resource].result(15)


def produce(bootstrap: str, topic: str, count: int, start: int = 0) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(start, start + count):
        p.produce(topic, value=f"v{i}".encode(), partition=0)
    assert p.flush(30) == 0


def share_consumer(bootstrap: str, group: str, topic: str, *, explicit: bool = False, **extra: Any) -> Any:
    conf = {"bootstrap.servers": bootstrap, "group.id": group, **extra}
    if explicit:
        conf["share.acknowledgement.mode"] = "explicit"
    c = ShareConsumer(conf)
    c.subscribe([topic])
    return c


def poll_messages(consumer: Any, timeout: float = 1.0) -> list:
    out = []
    for m in consumer.poll(timeout):
        assert m.error() is None, m.error()
        out.append(m)
    return out


def collect(consumer: Any, *, until: Any, timeout: float, what: str) -> list:
    """Poll (implicit acknowledgement) until until(messages so far) holds; AssertionError after timeout."""
    got: list = []
    deadline = time.monotonic() + timeout
    while not until(got):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; got {len(got)} record(s)")
        got.extend(poll_messages(consumer, 0.5))
    return got


def share_request(bootstrap: str, api: int, version: int, body: dict) -> dict:
    with RawClient(bootstrap) as c:
        return c.request(api, version, body)


def start_offsets(bootstrap: str, group: str, topic: str, partitions: list[int]) -> dict[int, int]:
    resp = share_request(bootstrap, 90, 0, {"groups": [{"group_id": group, "topics": [
        {"topic_name": topic, "partitions": partitions}]}]})
    g = resp["groups"][0]
    if g["error_code"] == 69:  # GROUP_ID_NOT_FOUND: the group has not joined yet
        return {}
    assert g["error_code"] == 0, g
    return {p["partition_index"]: p["start_offset"] for t in g["topics"] for p in t["partitions"]}
