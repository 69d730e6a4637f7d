"""Prometheus metrics over HTTP after real traffic; group lag as AdminClient users compute it."""
from __future__ import annotations

import re
import shutil
import subprocess
import time
import urllib.request

import pytest

pytest.importorskip("prometheus_client")
confluent_kafka = pytest.importorskip("confluent_kafka")
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition  # noqa: E402

from kbroker.metrics import count_records  # noqa: E402
from kbroker.testing import KafkaBroker  # noqa: E402
from wire import records as rec  # noqa: E402


def scrape(url: str) -> str:
    if shutil.which("curl"):  # what a person does
        return subprocess.run(["curl", "-sf", "--max-time", "10", url], capture_output=True, text=True, timeout=30,
                              check=True).stdout
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read().decode()


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """{sorted label pairs: value} of one metric."""
    out = {}
    for line in text.splitlines():
        m = re.match(rf"^{re.escape(name)}(?:\{{(.*)\}})? (\S+)$", line)
        if m:
            labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', m.group(1) or "")))
            out[labels] = float(m.group(2))
    return out


def value(text: str, name: str, **labels: str) -> float:
    wanted = tuple(sorted(labels.items()))
    for key, v in samples(text, name).items():
        if all(pair in key for pair in wanted):
            return v
    raise AssertionError(f"no sample {name}{labels} in:\n" + "\n".join(l for l in text.splitlines() if name in l))


def test_count_records_counts_v2_batches_and_skips_control_batches() -> None:
    data = rec.batch_from_tuples([(None, b"a", None, None), (None, b"b", None, None)])
    control = rec.build_control_batch(True, producer_id=1, producer_epoch=0, coordinator_epoch=0, timestamp=0)
    assert count_records(data) == (2, len(data))
    assert count_records(data + control) == (2, len(data) + len(control))
    assert count_records(data + data[:30]) == (2, len(data) + 30)  # a cut batch at the end counts in bytes
    assert count_records(None) == (0, 0)


@pytest.mark.kafka_broker(mode="subprocess", metrics=True)
def test_metrics_endpoint_after_traffic(kafka_broker: KafkaBroker) -> None:
    url = kafka_broker.metrics_url
    assert url and url.endswith("/metrics")
    topic = kafka_broker.create_topic(partitions=2)
    producer = kafka_broker.producer(**{"linger.ms": 0})
    for i in range(30):
        producer.produce(topic, f"value-{i:02d}".encode(), partition=i % 2)
    assert producer.flush(30) == 0
    assert len(kafka_broker.consume_all(topic)) == 30

    group = kafka_broker.unique_name("group")
    consumer = kafka_broker.consumer(group, **{"enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0), TopicPartition(topic, 1, 0)])
    got = 0
    deadline = time.monotonic() + 30
    while got < 30 and time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is not None and not msg.error():
            got += 1
    consumer.commit(offsets=[TopicPartition(topic, 0, 4), TopicPartition(topic, 1, 11)], asynchronous=False)

    text = scrape(url)
    # messages and bytes in/out per topic
    assert value(text, "kbroker_topic_messages_in_total", topic=topic) == 30
    assert value(text, "kbroker_topic_bytes_in_total", topic=topic) > 30 * len("value-00")
    assert value(text, "kbroker_topic_messages_out_total", topic=topic) >= 60  # consume_all and the consumer
    assert value(text, "kbroker_topic_bytes_out_total", topic=topic) > 0
    # request rate and latency per API and version
    produce_versions = {dict(k)["version"] for k in samples(text, "kbroker_requests_total") if ("api", "Produce") in k}
    assert produce_versions, "Produce requests counted"
    assert value(text, "kbroker_request_duration_seconds_count", api="Produce") >= 1
    assert value(text, "kbroker_request_duration_seconds_bucket", api="Fetch", le="+Inf") >= 1
    assert value(text, "kbroker_request_bytes_total", api="Produce") > 0
    assert value(text, "kbroker_response_bytes_total", api="Fetch") > 0
    # partition sizes and offsets
    assert value(text, "kbroker_partition_log_end_offset", topic=topic, partition="0") == 15
    assert value(text, "kbroker_partition_high_watermark", topic=topic, partition="1") == 15
    assert value(text, "kbroker_partition_log_start_offset", topic=topic, partition="0") == 0
    assert value(text, "kbroker_partition_size_bytes", topic=topic, partition="0") > 0
    # connections
    assert value(text, "kbroker_connections_active") >= 1
    assert value(text, "kbroker_connections_accepted_total") >= 2
    # consumer group lag, as AdminClient users compute it: high watermark - committed offset
    admin = kafka_broker.admin()
    committed = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0), TopicPartition(topic, 1)])]
    )[group].result(timeout=10)
    for tp in committed.topic_partitions:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)
        expected = high - tp.offset
        assert value(text, "kbroker_consumergroup_lag", group=group, topic=topic, partition=str(tp.partition)) == expected
        assert value(text, "kbroker_consumergroup_committed_offset", group=group, topic=topic,
                     partition=str(tp.partition)) == tp.offset
    assert value(text, "kbroker_consumergroup_lag_sum", group=group) == (15 - 4) + (15 - 11)
    consumer.close()


@pytest.mark.kafka_broker(metrics=True)
def test_in_process_metrics_and_faults_counted(kafka_broker: KafkaBroker) -> None:
    topic = kafka_broker.create_topic()
    kafka_broker.faults.inject_error("Produce", "NOT_LEADER_OR_FOLLOWER")
    with pytest.raises(Exception):
        kafka_broker.produce(topic, [b"refused"])
    kafka_broker.produce(topic, [b"taken"])
    text = kafka_broker.metrics_text()
    assert value(text, "kbroker_faults_injected_total", kind="error", api="Produce") == 1
    assert value(text, "kbroker_topic_messages_in_total", topic=topic) == 1  # the refused one is not counted
    assert scrape(kafka_broker.metrics_url) .count("kbroker_partition_high_watermark") >= 1


@pytest.mark.kafka_broker(metrics=True)
def test_deleted_topic_metrics_disappear(kafka_broker: KafkaBroker) -> None:
    topic = kafka_broker.create_topic()
    kafka_broker.produce(topic, [b"one", b"two"])
    assert kafka_broker.values(topic) == [b"one", b"two"]
    text = kafka_broker.metrics_text()
    assert value(text, "kbroker_topic_messages_in_total", topic=topic) == 2
    assert value(text, "kbroker_topic_bytes_out_total", topic=topic) > 0
    kafka_broker.delete_topic(topic)
    text = kafka_broker.metrics_text()
    assert f'topic="{topic}"' not in text, [line for line in text.splitlines() if topic in line]
    kafka_broker.create_topic(topic)  # the same name again starts from zero
    kafka_broker.produce(topic, [b"three"])
    assert value(kafka_broker.metrics_text(), "kbroker_topic_messages_in_total", topic=topic) == 1

@pytest.mark.kafka_broker(metrics=True)
def test_request_counters_and_latency_histogram(kafka_broker: KafkaBroker) -> None:
    """Per-request counters are kept as plain numbers and exported at scrape time: exact counts per API and
    version, a cumulative histogram whose +Inf bucket is the count, and bytes per API."""
    from kbroker.testing import WireClient

    before = samples(kafka_broker.metrics_text(), "kbroker_requests_total")
    with WireClient(kafka_broker.bootstrap) as client:
        for _ in range(7):
            client.request(3, 9, {"topics": [], "allow_auto_topic_creation": False,
                                  "include_topic_authorized_operations": False})
    text = kafka_broker.metrics_text()
    key = (("api", "Metadata"), ("version", "9"))
    assert samples(text, "kbroker_requests_total")[key] - before.get(key, 0) == 7
    count = value(text, "kbroker_request_duration_seconds_count", api="Metadata", version="9")
    assert count == samples(text, "kbroker_requests_total")[key]
    buckets = sorted((float(dict(k)["le"]), v) for k, v in samples(text, "kbroker_request_duration_seconds_bucket").items()
                     if ("api", "Metadata") in k and ("version", "9") in k)
    assert len(buckets) == 16 and buckets[-1] == (float("inf"), count)
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:]))  # cumulative
    assert value(text, "kbroker_request_duration_seconds_sum", api="Metadata", version="9") > 0
    assert value(text, "kbroker_request_bytes_total", api="Metadata") >= 7 * 12
    assert value(text, "kbroker_response_bytes_total", api="Metadata") > 0


@pytest.mark.kafka_broker(metrics=True)
def test_made_up_topic_names_get_no_series(kafka_broker: KafkaBroker) -> None:
    """An acks=0 Produce gets no response to refuse it, so nothing marks its partitions failed: only topics that
    exist get per-topic counters, or any client could add series without end."""
    from kbroker.testing import WireClient

    batch = rec.batch_from_tuples([(None, b"x", None, None)])
    for i in range(5):  # a connection each: the broker closes one after its refused acks=0 Produce
        with WireClient(kafka_broker.bootstrap) as client:
            client.send(0, 9, {"transactional_id": None, "acks": 0, "timeout_ms": 1000, "topic_data": [
                {"name": f"made-up-{i}", "partition_data": [{"index": 0, "records": batch}]}]})
            with pytest.raises((ConnectionError, EOFError, OSError)):
                client.request(18, 3, {"client_software_name": "t", "client_software_version": "1"})
    assert "made-up-" not in kafka_broker.metrics_text()
