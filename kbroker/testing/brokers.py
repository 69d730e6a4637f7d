"""Brokers for tests: in-process (a background thread with its own event loop) or a subprocess, each on a free
port, in memory or on a directory; and `KafkaBroker`, the handle tests get, with helpers and fault control.

    from kbroker.testing import KafkaBroker
    with KafkaBroker.start() as kafka:                  # in-process, in memory, free port
        topic = kafka.create_topic(partitions=3)
        kafka.produce(topic, [b"a", b"b"])
        assert [m.value for m in kafka.consume_all(topic)] == [b"a", b"b"]
        kafka.faults.inject_error("Produce", "NOT_LEADER_OR_FOLLOWER", count=2)
"""
from __future__ import annotations

import atexit
import functools
import itertools
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
import weakref
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from kbroker.testing.client import KafkaRequestError, Message, WireClient, entries_of
from wire.errors import ErrorCode

READY = re.compile(r"kbroker ready: listening on [^ ]+:(\d+)")
CONTROL = re.compile(r"kbroker control: (http://\S+)(?: \(token ([^)\s]+)\))?")
METRICS = re.compile(r"kbroker metrics: (http://\S+)")
MODES = ("inprocess", "subprocess")


def _package_root() -> str:
    import kbroker

    return str(Path(kbroker.__file__).resolve().parents[1])


# ---------------------------------------------------------------------------------------------------------------
# fault control: one interface, on the broker's loop (in-process) or over its control endpoint (subprocess)


class FaultControl:
    """Inject faults into a running broker; see kbroker.faults for what each does. Methods return fault ids."""

    def inject_error(self, api: int | str, error: int | str, *, count: int | None = 1, topic: str | None = None,
                     partition: int | None = None) -> int:
        """Answer the next `count` requests of `api` with `error`, without applying them (only the named
        topic/partition's entries, when given)."""
        return self._add({"kind": "error", "api": api, "error": error, "count": count, "topic": topic,
                          "partition": partition})["id"]

    def delay(self, api: int | str, delay_ms: int, *, count: int | None = 1, before: bool = False) -> int:
        """Hold back the response (or, before=True, the handling) of the next `count` requests."""
        return self._add({"kind": "delay", "api": api, "delay_ms": delay_ms, "count": count, "before": before})["id"]

    def drop_connection(self, api: int | str, *, count: int | None = 1, after_apply: bool = True) -> int:
        """Close the connection after the request is applied but before it is answered (or before it is applied)."""
        return self._add({"kind": "drop", "api": api, "count": count, "after_apply": after_apply})["id"]

    def throttle(self, api: int | str, throttle_ms: int, *, count: int | None = 1) -> int:
        """Answer with throttle_time_ms and mute the connection that long, as a broker enforcing a quota does."""
        return self._add({"kind": "throttle", "api": api, "throttle_ms": throttle_ms, "count": count})["id"]

    def expire_member(self, group_id: str, member_id: str | None = None) -> list[str]:
        """Expire a member (default: every member) of a group as a session timeout would; the group rebalances."""
        raise NotImplementedError

    def members(self, group_id: str) -> list[str]:
        raise NotImplementedError

    def list(self) -> list[dict]:
        raise NotImplementedError

    def remove(self, fault_id: int) -> bool:
        raise NotImplementedError

    def clear(self) -> int:
        raise NotImplementedError

    def get(self, fault_id: int) -> dict | None:
        return next((f for f in self.list() if f["id"] == fault_id), None)

    def wait_used(self, fault_id: int, timeout: float = 30.0) -> None:
        """Wait until a counted fault has met all its requests (it is then no longer armed)."""
        deadline = time.monotonic() + timeout
        while self.get(fault_id) is not None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"fault {fault_id} still armed after {timeout}s: {self.get(fault_id)}")
            time.sleep(0.02)

    def _add(self, spec: dict) -> dict:
        raise NotImplementedError


class LocalFaults(FaultControl):
    """Faults of an in-process broker, called on its event loop through the thread portal."""

    def __init__(self, runner: "InProcessBroker") -> None:
        self._runner = runner

    def _faults(self) -> Any:
        return self._runner.broker.faults

    def _add(self, spec: dict) -> dict:
        spec = {k: v for k, v in spec.items() if v is not None or k == "count"}
        kind, api = spec.pop("kind"), spec.pop("api")
        if kind == "drop":
            spec["before"] = not spec.pop("after_apply", True)
        return self._runner.call(lambda: self._faults().add(kind, api, **spec).to_json())

    def expire_member(self, group_id: str, member_id: str | None = None) -> list[str]:
        return self._runner.call(lambda: self._faults().expire_member(group_id, member_id))

    def members(self, group_id: str) -> list[str]:
        return self._runner.call(lambda: self._faults().members(group_id))

    def list(self) -> list[dict]:
        return self._runner.call(lambda: self._faults().list())

    def remove(self, fault_id: int) -> bool:
        return self._runner.call(lambda: self._faults().remove(fault_id))

    def clear(self) -> int:
        return self._runner.call(lambda: self._faults().clear())


class RemoteFaults(FaultControl):
    """Faults over a broker's control endpoint (`kbroker serve --control-listen`): any broker, any process."""

    def __init__(self, control_url: str, token: str, timeout: float = 30.0) -> None:
        self.url = control_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _http(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("error", str(exc))
            except ValueError:
                message = str(exc)
            if exc.code == 404:
                raise KeyError(message) from None
            raise ValueError(message) from None

    def _add(self, spec: dict) -> dict:
        return self._http("POST", "/faults", {k: v for k, v in spec.items() if v is not None or k == "count"})

    def expire_member(self, group_id: str, member_id: str | None = None) -> list[str]:
        body = {"member_id": member_id} if member_id else {}
        return self._http("POST", f"/groups/{urllib.request.quote(group_id, safe='')}/expire", body)["expired"]

    def members(self, group_id: str) -> list[str]:
        return self._http("GET", f"/groups/{urllib.request.quote(group_id, safe='')}/members")["members"]

    def list(self) -> list[dict]:
        return self._http("GET", "/faults")

    def remove(self, fault_id: int) -> bool:
        try:
            self._http("DELETE", f"/faults/{fault_id}")
            return True
        except KeyError:
            return False

    def clear(self) -> int:
        return self._http("DELETE", "/faults")["removed"]


# ---------------------------------------------------------------------------------------------------------------
# runners

_running: "weakref.WeakSet[Any]" = weakref.WeakSet()


@atexit.register
def _stop_leftovers() -> None:
    """Brokers a program forgot to stop must not keep it from exiting (nor leave child processes behind)."""
    for runner in list(_running):
        try:
            runner.stop(timeout=5)
        except Exception:
            pass


def _within(timeout: float, call: Callable[[], Any]) -> Any:
    """call() on a helper thread, bounded: TimeoutError if it has not returned after timeout seconds."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as exc:  # handed to the caller below
            outcome.append((False, exc))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        raise TimeoutError(f"the in-process broker did not start within {timeout} s")
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


class InProcessBroker:
    """kbroker's `start_broker` in a background thread with its own event loop (an anyio blocking portal)."""

    mode = "inprocess"

    def __init__(self, data_dir: Path | None = None, config: dict[str, Any] | None = None, *, host: str = "127.0.0.1",
                 port: int = 0, metrics: bool = False, control: bool = False) -> None:
        self.data_dir = data_dir
        self.config = {k: str(v) for k, v in (config or {}).items()}
        self.host = host
        self.port = port
        self.metrics = metrics
        self.control = control
        self.running: Any = None
        self.start_seconds: float | None = None
        self._portal_cm: Any = None
        self._portal: Any = None
        self._broker_cm: Any = None

    @property
    def bootstrap(self) -> str:
        return self.running.bootstrap

    @property
    def broker(self) -> Any:
        """The Broker object itself (white-box tests; touch it only through `call`)."""
        return self.running.broker

    @property
    def control_url(self) -> str | None:
        port = self.running.control_port if self.running else None
        return None if port is None else f"http://{self.host}:{port}"

    @property
    def control_token(self) -> str | None:
        """What every control request must carry (Authorization: Bearer TOKEN)."""
        return self.running.control_token if self.running else None

    @property
    def metrics_url(self) -> str | None:
        port = self.running.metrics_port if self.running else None
        return None if port is None else f"http://{self.host}:{port}/metrics"

    def start(self, timeout: float = 20.0) -> "InProcessBroker":
        from anyio.from_thread import start_blocking_portal

        from kbroker.app import Settings, start_broker
        from kbroker.config import BrokerConfig

        began = time.perf_counter()
        config = BrokerConfig(self.config)
        settings = Settings(host=self.host, port=self.port, data_dir=self.data_dir, metrics=self.metrics,
                            metrics_listen=(self.host, 0) if self.metrics else None,
                            control_listen=(self.host, 0) if self.control else None)
        self._portal_cm = start_blocking_portal("asyncio")
        self._portal = self._portal_cm.__enter__()
        try:
            self._broker_cm = self._portal.wrap_async_context_manager(start_broker(settings, config))
            self.running = _within(timeout, self._broker_cm.__enter__)
        except TimeoutError:
            self._portal = self._portal_cm = None  # the broker's thread is stuck: leave it, fail the caller
            raise
        except BaseException:
            self._portal_cm.__exit__(*sys.exc_info())
            self._portal = self._portal_cm = None
            raise
        self.port = self.running.port
        self.start_seconds = time.perf_counter() - began
        _running.add(self)
        return self

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run fn on the broker's event loop (where all broker state lives) and return its result."""
        if self._portal is None:
            raise RuntimeError("the broker is not running")
        return self._portal.call(fn)

    def stop(self, timeout: float = 15.0) -> int:
        if self._broker_cm is not None:
            try:
                self._broker_cm.__exit__(None, None, None)
            finally:
                self._broker_cm = None
                self._portal_cm.__exit__(None, None, None)
                self._portal = self._portal_cm = None
        return 0

    def alive(self) -> bool:
        return self._portal is not None

    def metrics_text(self) -> str:
        metrics = self.call(lambda: getattr(self.broker, "metrics", None))
        if metrics is None:
            raise RuntimeError("metrics are not enabled on this broker (metrics=True)")
        return self.call(metrics.render).decode()

    def faults(self) -> FaultControl:
        return LocalFaults(self)


class SubprocessBroker:
    """`python -m kbroker serve` as a child process on a free port; every wait on it is bounded.

    `BrokerProcess(data_dir, *extra_args, port=0)` of kbroker's own tests is this class.
    """

    mode = "subprocess"

    def __init__(self, data_dir: Path | None = None, *extra: str, port: int = 0, config: dict[str, Any] | None = None,
                 metrics: bool = False, control: bool = False, cwd: Path | str | None = None,
                 python: str | None = None) -> None:
        self.data_dir = data_dir
        self.extra = list(extra)
        for key, value in (config or {}).items():
            self.extra += ["--set", f"{key}={value}"]
        self.port = port
        self.metrics = metrics
        self.control = control
        self.cwd = cwd
        self.python = python or sys.executable
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []
        self.control_url: str | None = None
        self.control_token: str | None = secrets.token_urlsafe(24) if control else None
        """What every control request must carry (Authorization: Bearer TOKEN); given to the child in its
        environment, not on its command line."""
        self.metrics_url: str | None = None
        self.start_seconds: float | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def args(self) -> list[str]:
        args = [self.python, "-m", "kbroker", "serve", "--listen", f"127.0.0.1:{self.port}"]
        args += ["--in-memory"] if self.data_dir is None else ["--data-dir", str(self.data_dir)]
        if self.control:
            args += ["--control-listen", "127.0.0.1:0"]
        if self.metrics:
            args += ["--metrics-listen", "127.0.0.1:0"]
        return args + self.extra

    def start(self, timeout: float = 20.0) -> "SubprocessBroker":
        began = time.perf_counter()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("KBROKER_CONTROL_TOKEN", None)
        if self.control_token:
            env["KBROKER_CONTROL_TOKEN"] = self.control_token
        root = _package_root()
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.output = []
        self.proc = subprocess.Popen(self.args(), cwd=self.cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=env)
        ready = threading.Event()

        def pump() -> None:
            assert self.proc and self.proc.stdout
            for line in self.proc.stdout:
                self.output.append(line)
                if ready.is_set():
                    continue
                if m := CONTROL.search(line):
                    self.control_url = m.group(1).rstrip("/")
                    if m.group(2):  # the broker made one up: it was not given ours
                        self.control_token = m.group(2)
                elif m := METRICS.search(line):
                    self.metrics_url = m.group(1)
                elif m := READY.search(line):
                    self.port = int(m.group(1))
                    ready.set()

        threading.Thread(target=pump, daemon=True, name="kbroker-output").start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.01):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("kbroker did not become ready:\n" + "".join(self.output[-50:]))
        self.start_seconds = time.perf_counter() - began
        _running.add(self)
        return self

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError("kbroker did not stop within the timeout")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def metrics_text(self) -> str:
        if not self.metrics_url:
            raise RuntimeError("metrics are not enabled on this broker (metrics=True)")
        with urllib.request.urlopen(self.metrics_url, timeout=30) as resp:
            return resp.read().decode()

    def faults(self) -> FaultControl:
        if not self.control_url:
            raise RuntimeError("this broker has no control endpoint (control=True)")
        assert self.control_token is not None
        return RemoteFaults(self.control_url, self.control_token)


# ---------------------------------------------------------------------------------------------------------------
# the handle tests use

_names = itertools.count(1)


class KafkaBroker:
    """A running kbroker and what a test does with it. `bootstrap` is the address to give a client."""

    def __init__(self, runner: InProcessBroker | SubprocessBroker, *, owns_dir: tempfile.TemporaryDirectory | None = None) -> None:
        self.runner = runner
        self._owns_dir = owns_dir
        self._clients: list[Any] = []
        self._wire: WireClient | None = None
        self._lock = threading.Lock()

    @classmethod
    def start(cls, mode: str = "inprocess", *, storage: str = "memory", data_dir: Path | str | None = None,
              config: dict[str, Any] | None = None, metrics: bool = False, control: bool | None = None,
              timeout: float = 20.0) -> "KafkaBroker":
        """Start a broker: mode "inprocess" or "subprocess"; storage "memory" or "disk" (data_dir, or a temp dir)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        if storage not in ("memory", "disk"):
            raise ValueError(f"storage must be 'memory' or 'disk', not {storage!r}")
        owns = None
        path: Path | None = None
        if storage == "disk":
            if data_dir is None:
                owns = tempfile.TemporaryDirectory(prefix="kbroker-")
                data_dir = owns.name
            path = Path(data_dir)
        runner: InProcessBroker | SubprocessBroker
        if mode == "inprocess":
            runner = InProcessBroker(path, config, metrics=metrics, control=bool(control))
        else:  # a subprocess is reached through its control endpoint
            runner = SubprocessBroker(path, config=config, metrics=metrics, control=True if control is None else control)
        try:
            runner.start(timeout)
        except BaseException:
            if owns is not None:
                owns.cleanup()
            raise
        return cls(runner, owns_dir=owns)

    # -- facts

    @property
    def bootstrap(self) -> str:
        return self.runner.bootstrap

    bootstrap_servers = bootstrap

    @property
    def mode(self) -> str:
        return self.runner.mode

    @property
    def data_dir(self) -> Path | None:
        return self.runner.data_dir

    @property
    def start_seconds(self) -> float | None:
        """How long the broker took to start (to accepting connections)."""
        return self.runner.start_seconds

    @property
    def control_url(self) -> str | None:
        return self.runner.control_url

    @property
    def control_token(self) -> str | None:
        """The token the control endpoint requires: send `Authorization: Bearer TOKEN`."""
        return self.runner.control_token

    @property
    def metrics_url(self) -> str | None:
        return self.runner.metrics_url

    @functools.cached_property
    def faults(self) -> FaultControl:
        return self.runner.faults()

    def metrics_text(self) -> str:
        """The Prometheus exposition text (the broker must have been started with metrics)."""
        return self.runner.metrics_text()

    def config(self, extra: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
        """Client configuration (librdkafka / confluent-kafka names) pointing at this broker:
        `config({"enable.idempotence": True}, error_cb=...)`."""
        return {"bootstrap.servers": self.bootstrap, **(extra or {}), **overrides}

    # -- helpers over the wire (no client library needed)

    def wire(self) -> WireClient:
        """A kbroker wire client on its own connection (close it, or use it in a with block)."""
        return WireClient(self.bootstrap)

    def _shared_wire(self) -> WireClient:
        if self._wire is None:
            self._wire = WireClient(self.bootstrap)
        return self._wire

    def _with_wire(self, fn: Callable[[WireClient], Any]) -> Any:
        with self._lock:
            try:
                return fn(self._shared_wire())
            except (ConnectionError, OSError):  # the connection was dropped (an injected fault?): once more
                if self._wire is not None:
                    self._wire.close()
                self._wire = None
                return fn(self._shared_wire())

    @staticmethod
    def unique_name(prefix: str = "topic") -> str:
        return f"{prefix}-{next(_names)}-{uuid.uuid4().hex[:8]}"

    def create_topic(self, name: str | None = None, partitions: int = 1, config: dict[str, Any] | None = None,
                     *, exist_ok: bool = False) -> str:
        """Create a topic (a unique name when none is given) and return its name."""
        name = name or self.unique_name()
        self._with_wire(lambda c: c.create_topic(name, partitions, config, exist_ok=exist_ok))
        return name

    def delete_topic(self, name: str) -> None:
        self._with_wire(lambda c: c.delete_topic(name))

    def topics(self) -> list[str]:
        return self._with_wire(lambda c: c.topics())

    def produce(self, topic: str, values: Iterable[Any], *, key: Any = None, partition: int = 0,
                headers: Sequence[tuple[str, Any]] | None = None) -> list[int]:
        """Append values (bytes, str, or (key, value) pairs) to one partition in one batch; their offsets.

        An unknown topic is created first when the broker auto-creates topics."""
        entries = entries_of(values, key, headers)
        if not entries:
            return []

        def run(c: WireClient) -> int:
            try:
                return c.produce(topic, partition, entries)
            except KafkaRequestError as exc:
                if exc.code != ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
                    raise
                c.request(3, 9, {"topics": [{"name": topic}], "allow_auto_topic_creation": True,
                                 "include_topic_authorized_operations": False})
                return c.produce(topic, partition, entries)

        base = self._with_wire(run)
        return list(range(base, base + len(entries)))

    def consume_all(self, topic: str, *, partition: int | None = None, timeout: float = 30.0) -> list[Message]:
        """Every message of the topic (or one partition) from the log start to the end at call time, ordered by
        partition then offset. Reads with Fetch directly: no consumer group, nothing committed."""

        def run(c: WireClient) -> list[Message]:
            parts = [partition] if partition is not None else c.partitions(topic)
            out: list[Message] = []
            for p in parts:
                out.extend(c.read_all(topic, p, timeout=timeout))
            return out

        return self._with_wire(run)

    def values(self, topic: str, **kwargs: Any) -> list[bytes | None]:
        """The values of consume_all."""
        return [m.value for m in self.consume_all(topic, **kwargs)]

    # -- real clients (confluent-kafka), closed with the broker

    def admin(self, **conf: Any) -> Any:
        """A confluent_kafka AdminClient for this broker."""
        from confluent_kafka.admin import AdminClient

        return AdminClient(self.config(**conf))

    def producer(self, **conf: Any) -> Any:
        from confluent_kafka import Producer

        producer = Producer(self.config(**conf))
        self._clients.append(producer)
        return producer

    def consumer(self, group_id: str | None = None, **conf: Any) -> Any:
        """A confluent_kafka Consumer (reading from the earliest offset unless told otherwise); closed with the
        broker if the test does not close it."""
        from confluent_kafka import Consumer

        settings = {"group.id": group_id or self.unique_name("group"), "auto.offset.reset": "earliest",
                    **self.config(**conf)}
        consumer = Consumer(settings)
        self._clients.append(consumer)
        return consumer

    # -- lifecycle

    def close_clients(self) -> None:
        for client in reversed(self._clients):
            close = getattr(client, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    pass
        self._clients.clear()
        if self._wire is not None:
            self._wire.close()
            self._wire = None

    def stop(self) -> None:
        self.close_clients()
        try:
            self.runner.stop()
        finally:
            if self._owns_dir is not None:
                self._owns_dir.cleanup()
                self._owns_dir = None

    def restart(self, timeout: float = 20.0) -> "KafkaBroker":
        """Stop and start again on the same port (data kept when on disk)."""
        self.close_clients()
        self.runner.stop()
        self.runner.start(timeout)
        self.__dict__.pop("faults", None)
        return self

    def alive(self) -> bool:
        return self.runner.alive()

    def __enter__(self) -> "KafkaBroker":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = "in memory" if self.data_dir is None else str(self.data_dir)
        return f"<KafkaBroker {self.mode} {self.bootstrap} {where}>"
