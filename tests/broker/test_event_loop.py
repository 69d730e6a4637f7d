"""Work the event loop must not do: re-reading data for a waiting Fetch, fsync in Produce, deleting files in
DeleteTopics. Each test drives a real in-process kbroker over real sockets and looks at the broker's own
counters (through KafkaBroker.runner.call, on the broker's loop)."""
from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest

from kbroker.log.flusher import THREAD_NAME
from kbroker.testing import KafkaBroker
from kbroker.testing.client import FETCH_V, KafkaRequestError, WireClient, entries_of
from tests.helpers import wait_until
from wire import records as rec
from wire.errors import ErrorCode


@pytest.fixture
def memory_broker() -> Any:
    with KafkaBroker.start() as kafka:
        yield kafka


def _long_poll(bootstrap: str, topic: str, offset: int, *, min_bytes: int, max_wait_ms: int) -> dict:
    with WireClient(bootstrap) as client:
        body = {"replica_id": -1, "max_wait_ms": max_wait_ms, "min_bytes": min_bytes, "max_bytes": 64 << 20,
                "isolation_level": 0, "session_id": 0, "session_epoch": -1,
                "topics": [{"topic": topic, "partitions": [{"partition": 0, "current_leader_epoch": -1,
                                                            "fetch_offset": offset, "log_start_offset": -1,
                                                            "partition_max_bytes": 64 << 20}]}],
                "forgotten_topics_data": [], "rack_id": ""}
        return client.request(1, FETCH_V, body)["responses"][0]["partitions"][0]


def test_waiting_fetch_reads_each_byte_once(memory_broker: KafkaBroker) -> None:
    """A Fetch with min_bytes far above what arrives, while 200 batches are appended, reads the log once when
    it completes, not once per append (before: ~100x the data)."""
    kafka = memory_broker
    topic = kafka.create_topic()
    part = kafka.runner.call(lambda: kafka.runner.broker.partition(topic, 0))
    plog = part.log
    result: dict = {}
    batch = rec.batch_from_tuples(entries_of([b"x" * 5000]))  # stored as sent: each append adds len(batch)
    # min_bytes is exactly what the 200 appends bring, and max_wait far beyond them: the fetch completes on the
    # last append however slow the machine is, never on its timer with part of the data
    poller = threading.Thread(target=lambda: result.update(
        _long_poll(kafka.bootstrap, topic, 0, min_bytes=200 * len(batch), max_wait_ms=120_000)))
    poller.start()
    deadline = time.monotonic() + 10
    while not kafka.runner.call(lambda: bool(part._waiters)):  # the fetch is parked: its first read found nothing
        assert time.monotonic() < deadline
        time.sleep(0.01)
    with WireClient(kafka.bootstrap) as producer:
        for _ in range(200):
            producer.produce(topic, 0, entries_of([b"x" * 5000]))
    poller.join(timeout=60)
    assert not poller.is_alive()
    assert result["error_code"] == 0
    returned = len(result["records"])
    total = kafka.runner.call(lambda: plog.size_bytes)
    assert returned == total > 200 * 5000
    read = kafka.runner.call(lambda: plog.bytes_read)
    assert read <= total, f"the log served {read} bytes for a fetch that returned {total}"


def test_waiting_fetch_completes_once_min_bytes_arrive(memory_broker: KafkaBroker) -> None:
    """Counting positions instead of reading still completes the fetch as soon as enough bytes are there."""
    kafka = memory_broker
    topic = kafka.create_topic()
    result: dict = {}
    poller = threading.Thread(target=lambda: result.update(
        _long_poll(kafka.bootstrap, topic, 0, min_bytes=30_000, max_wait_ms=60_000)))
    poller.start()
    with WireClient(kafka.bootstrap) as producer:
        for _ in range(10):
            producer.produce(topic, 0, entries_of([b"y" * 5000]))
    poller.join(timeout=30)  # far below max_wait_ms: it completed on min_bytes
    assert not poller.is_alive()
    assert result["error_code"] == 0
    assert len(result["records"]) >= 30_000


class RecordingFsync:
    """os.fsync that notes the calling thread and takes 20 ms, as a slow disk would."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.threads: list[str] = []

    def __call__(self, fd: int) -> None:
        self.threads.append(threading.current_thread().name)
        time.sleep(0.02)
        self.real(fd)


def test_produce_burst_rolling_segments_fsyncs_only_on_the_flush_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    with KafkaBroker.start(storage="disk") as kafka:
        topic = kafka.create_topic(config={"segment.bytes": 2000})
        plog = kafka.runner.call(lambda: kafka.runner.broker.partition(topic, 0).log)
        kafka.produce(topic, [b"first"])  # the leader epoch's first append writes its checkpoint once
        slow = RecordingFsync(os.fsync)
        monkeypatch.setattr(os, "fsync", slow)
        with WireClient(kafka.bootstrap) as producer:
            for _ in range(30):
                producer.produce(topic, 0, entries_of([b"z" * 900]))
        segments = kafka.runner.call(lambda: plog.segments)
        assert segments >= 10
        in_request_path = [t for t in slow.threads if not t.startswith(THREAD_NAME)]
        assert not in_request_path, f"{len(in_request_path)} fsyncs on {set(in_request_path)}"
        flusher = kafka.runner.call(lambda: kafka.runner.broker.logs.flusher)
        flusher.drain(60)
        assert kafka.runner.call(lambda: plog.recovery_point) == kafka.runner.call(lambda: plog.active_segment.base_offset)
        assert slow.threads  # the rolled segments were fsynced, on the flush thread


def test_flush_messages_makes_each_acknowledged_write_durable(monkeypatch: pytest.MonkeyPatch) -> None:
    """flush.messages=1: every acknowledged write is fsynced before the answer, on a worker thread, never the
    broker's loop."""
    real = os.fsync
    threads: list[str] = []

    def recording(fd: int) -> None:
        threads.append(threading.current_thread().name + " " + os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    with KafkaBroker.start(storage="disk") as kafka:
        topic = kafka.create_topic(config={"flush.messages": 1})
        plog = kafka.runner.call(lambda: kafka.runner.broker.partition(topic, 0).log)
        loop_thread = kafka.runner.call(lambda: threading.current_thread().name)
        monkeypatch.setattr(os, "fsync", recording)
        with WireClient(kafka.bootstrap) as producer:
            for i in range(5):
                producer.produce(topic, 0, entries_of([b"v%d" % i]))
                assert kafka.runner.call(lambda: plog.recovery_point) == i + 1
        segment_fsyncs = [t for t in threads if t.endswith(".log")]  # (the first append of an epoch also writes
        on_loop = [t for t in segment_fsyncs if t.startswith(loop_thread + " ")]  # the epoch checkpoint, once)
        assert segment_fsyncs and not on_loop, on_loop


def test_a_failed_flush_messages_fsync_answers_storage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """An fsync failure for flush.messages fails that partition's Produce with KAFKA_STORAGE_ERROR (and every later
    one until a restart); other partitions carry on."""
    real = os.fsync
    failing: list[str] = []  # the partition directory whose fsyncs fail

    def maybe_failing(fd: int) -> None:
        if failing and f"/{failing[0]}/" in os.readlink(f"/proc/self/fd/{fd}") + "/":
            raise OSError(5, "Input/output error")
        real(fd)

    with KafkaBroker.start(storage="disk") as kafka:
        topic = kafka.create_topic(partitions=2, config={"flush.messages": 1})
        monkeypatch.setattr(os, "fsync", maybe_failing)
        with WireClient(kafka.bootstrap) as producer:
            assert producer.produce(topic, 0, entries_of([b"fine"])) == 0
            failing.append(f"{topic}-0")
            for _ in range(2):
                with pytest.raises(KafkaRequestError) as exc:
                    producer.produce(topic, 0, entries_of([b"lost"]))
                assert exc.value.code == ErrorCode.KAFKA_STORAGE_ERROR
            assert producer.produce(topic, 1, entries_of([b"other"])) == 0


def test_broker_flush_interval_ms_flushes_within_the_interval() -> None:
    with KafkaBroker.start(storage="disk", config={"log.flush.interval.ms": 100}) as kafka:
        topic = kafka.create_topic()
        plog = kafka.runner.call(lambda: kafka.runner.broker.partition(topic, 0).log)
        kafka.produce(topic, [b"a", b"b", b"c"])
        deadline = time.monotonic() + 20
        while kafka.runner.call(lambda: plog.recovery_point) < 3:
            assert time.monotonic() < deadline, "log.flush.interval.ms=100 never flushed"
            time.sleep(0.05)


def test_delete_topics_renames_at_once_and_removes_files_in_the_background(monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    real_rmtree = shutil.rmtree
    gate = threading.Event()
    threads: list[str] = []

    def gated_rmtree(path: Any, *args: Any, **kwargs: Any) -> None:
        threads.append(threading.current_thread().name)
        assert gate.wait(30)
        real_rmtree(path, *args, **kwargs)

    with KafkaBroker.start(storage="disk") as kafka:
        assert kafka.data_dir is not None
        topic = kafka.create_topic(partitions=2)
        kafka.produce(topic, [b"x" * 1000] * 10)
        monkeypatch.setattr(shutil, "rmtree", gated_rmtree)
        try:
            kafka.delete_topic(topic)  # answered while the removal is held back
            names = sorted(p.name for p in kafka.data_dir.iterdir())
            assert not [n for n in names if n in (f"{topic}-0", f"{topic}-1")]
            doomed = [n for n in names if n.startswith(f"{topic}-") and n.endswith("-delete")]
            assert len(doomed) == 2, names
            wait_until(lambda: threads, timeout=30, what="the flush thread to start removing the files")
            assert all(t.startswith(THREAD_NAME) for t in threads), threads
        finally:
            gate.set()
        kafka.runner.call(lambda: kafka.runner.broker.logs.flusher).drain(30)
        assert not [p for p in kafka.data_dir.iterdir() if p.name.startswith(f"{topic}-")]


def test_restart_finishes_an_interrupted_topic_deletion() -> None:
    with KafkaBroker.start(storage="disk") as kafka:
        assert kafka.data_dir is not None
        leftover = kafka.data_dir / "gone-0.0123456789abcdef0123456789abcdef-delete"
        leftover.mkdir()
        (leftover / "00000000000000000000.log").write_bytes(b"x" * 100)
        kafka.restart()
        deadline = time.monotonic() + 20
        while leftover.exists():
            assert time.monotonic() < deadline, "the -delete directory was never removed"
            time.sleep(0.05)


def test_alter_client_quotas_resolves_host_names_off_the_event_loop(memory_broker: KafkaBroker,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """An IP entity named by a host name is valid when it resolves (as Kafka's InetAddress.getByName); the lookup
    runs on a worker thread, never the broker's loop, and an unresolvable name is INVALID_REQUEST."""
    import socket

    real = socket.getaddrinfo
    threads: list[str] = []

    def recording(host: Any, *args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        if (host.decode() if isinstance(host, bytes) else host) == "no-such-host.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real("127.0.0.1", *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording)
    loop_thread = memory_broker.runner.call(lambda: threading.current_thread().name)
    body = {"entries": [
        {"entity": [{"entity_type": "ip", "entity_name": "some-host.example"}],
         "ops": [{"key": "connection_creation_rate", "value": 10.0, "remove": False}]},
        {"entity": [{"entity_type": "ip", "entity_name": "no-such-host.invalid"}],
         "ops": [{"key": "connection_creation_rate", "value": 10.0, "remove": False}]},
        {"entity": [{"entity_type": "ip", "entity_name": "10.1.2.3"}],
         "ops": [{"key": "connection_creation_rate", "value": 10.0, "remove": False}]}],
        "validate_only": True}
    with WireClient(memory_broker.bootstrap) as client:
        entries = client.request(49, 1, body)["entries"]
    assert [e["error_code"] for e in entries] == [0, 42, 0], (entries, threads)
    assert entries[1]["error_message"] == "no-such-host.invalid is not a valid IP or resolvable host."
    assert len(threads) >= 2 and loop_thread not in threads, (loop_thread, threads)


def test_a_waiting_fetch_notices_its_segment_replaced_under_the_same_base(memory_broker: KafkaBroker) -> None:
    """The position a waiting fetch measures from belongs to one segment object: when the cleaner puts a cleaned
    copy in its place under the same base offset, the cached position means nothing in the copy, so the fetch
    completes and reads afresh instead of counting from it."""
    from kbroker.fetching import PartitionRead, _available
    from kbroker.log.segment import LogSegment

    kafka = memory_broker
    topic = kafka.create_topic()
    kafka.produce(topic, [b"a" * 100, b"b" * 100, b"c" * 100])
    broker = kafka.runner.broker
    reads = [PartitionRead(topic, 0, fetch_offset=1, max_bytes=1 << 20)]
    starts: dict = {}
    assert kafka.runner.call(lambda: _available(broker, reads, 0, starts)) > 0  # measured; position cached

    def replace_active() -> None:  # what the cleaner's swap does: a new object for the same base offset
        plog = broker.partition(topic, 0).log
        old = plog.log_segments.active
        plog.log_segments.remove(old)
        plog.log_segments.add(LogSegment.open(plog.directory, old.base_offset, plog.config))

    kafka.runner.call(replace_active)
    assert kafka.runner.call(lambda: _available(broker, reads, 0, starts)) is None


def test_the_flush_scheduler_survives_a_failing_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception in the periodic flush check (here: one log's) is logged and the scheduler carries on: the
    other logs are still flushed, and the broker keeps serving."""
    from kbroker.log import Log

    real = Log.flush_if_due

    def flush_if_due(self: Log, now_ms: int) -> bool:
        if self.name.startswith("broken-"):
            raise RuntimeError("flush check bug")
        return real(self, now_ms)

    with KafkaBroker.start(storage="disk", config={"log.flush.interval.ms": 50}) as kafka:
        broken = kafka.create_topic("broken-topic")
        fine = kafka.create_topic("fine-topic")
        monkeypatch.setattr(Log, "flush_if_due", flush_if_due)
        kafka.produce(broken, [b"x"])
        kafka.produce(fine, [b"a", b"b"])
        plog = kafka.runner.call(lambda: kafka.runner.broker.partition(fine, 0).log)
        wait_until(lambda: kafka.runner.call(lambda: plog.recovery_point) == 2, timeout=20,
                   what="the other log to be flushed")
        kafka.produce(fine, [b"c"])
        wait_until(lambda: kafka.runner.call(lambda: plog.recovery_point) == 3, timeout=20,
                   what="the scheduler to carry on")
