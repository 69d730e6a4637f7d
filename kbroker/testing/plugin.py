"""The kbroker pytest plugin: `kafka_broker`, a real Kafka broker for your tests, with nothing to configure.

Installed with kbroker and registered through the `pytest11` entry point (disable with `-p no:kbroker`).

    def test_roundtrip(kafka_broker):
        topic = kafka_broker.create_topic()
        producer = confluent_kafka.Producer({"bootstrap.servers": kafka_broker.bootstrap})
        ...

By default every test of a session (of an xdist worker) shares one in-process, in-memory broker, and each test's
faults are cleared after it. Choose otherwise per test with the marker, or for the run with options / ini keys:

    @pytest.mark.kafka_broker(scope="function", mode="subprocess", storage="disk",
                              config={"num.partitions": 3}, metrics=True)

    --kafka-broker-mode inprocess|subprocess     ini: kafka_broker_mode
    --kafka-broker-scope session|function        ini: kafka_broker_scope
    --kafka-broker-storage memory|disk           ini: kafka_broker_storage
                                                 ini: kafka_broker_config  (lines of key=value)

Shared (session) brokers are kept per distinct settings, so a marker with its own config but no scope gets a
broker shared by the tests with that same config. `kafka_broker_factory` starts any number of extra brokers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import pytest

if TYPE_CHECKING:
    from kbroker.testing.brokers import KafkaBroker

SCOPES = ("session", "function")
MODES = ("inprocess", "subprocess")
STORAGES = ("memory", "disk")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kbroker", "kbroker: a Kafka broker for tests")
    group.addoption("--kafka-broker-mode", choices=MODES, default=None,
                    help="run kafka_broker in this process (a thread) or as a subprocess (default inprocess)")
    group.addoption("--kafka-broker-scope", choices=SCOPES, default=None,
                    help="share one kafka_broker per session, or start one per test (default session)")
    group.addoption("--kafka-broker-storage", choices=STORAGES, default=None,
                    help="keep kafka_broker's data in memory or on a temp dir (default memory)")
    parser.addini("kafka_broker_mode", "default kafka_broker mode: inprocess or subprocess", default="inprocess")
    parser.addini("kafka_broker_scope", "default kafka_broker scope: session or function", default="session")
    parser.addini("kafka_broker_storage", "default kafka_broker storage: memory or disk", default="memory")
    parser.addini("kafka_broker_config", "server.properties settings for kafka_broker (key=value lines)",
                  type="linelist", default=[])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "kafka_broker(scope='session', mode='inprocess', storage='memory', config=None, metrics=False, "
        "control=False): how the kafka_broker fixture should run for this test",
    )
    config.addinivalue_line(
        "markers",
        "kafka_secure_broker(users=None, config=None): users and extra settings of the kafka_secure_broker fixture",
    )
    config.addinivalue_line(
        "markers",
        "kafka_cluster(brokers=3, config=None, session_timeout_ms=2000, racks=None, in_memory=False): how the "
        "kafka_cluster fixture should run for this test",
    )
    config.stash[_STATS] = _Stats()


@dataclass(frozen=True)
class Options:
    scope: str
    mode: str
    storage: str
    config: tuple[tuple[str, str], ...]
    metrics: bool
    control: bool

    def key(self) -> tuple:
        return (self.mode, self.storage, self.config, self.metrics, self.control)


@dataclass
class _Stats:
    starts: list[tuple[str, float]] = field(default_factory=list)


_STATS = pytest.StashKey[_Stats]()


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    value = str(value).strip().lower()
    if value not in allowed:
        raise pytest.UsageError(f"kafka_broker {name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _options(config: pytest.Config, marker: pytest.Mark | None) -> Options:
    kwargs = dict(marker.kwargs) if marker is not None else {}
    unknown = set(kwargs) - {"scope", "mode", "storage", "config", "metrics", "control"}
    if unknown:
        raise pytest.UsageError(f"unknown kafka_broker marker argument(s): {', '.join(sorted(unknown))}")
    scope = kwargs.get("scope") or config.getoption("--kafka-broker-scope") or config.getini("kafka_broker_scope")
    mode = kwargs.get("mode") or config.getoption("--kafka-broker-mode") or config.getini("kafka_broker_mode")
    storage = (kwargs.get("storage") or config.getoption("--kafka-broker-storage")
               or config.getini("kafka_broker_storage"))
    settings: dict[str, str] = {}
    for line in config.getini("kafka_broker_config"):
        key, sep, value = line.partition("=")
        if not sep:
            raise pytest.UsageError(f"kafka_broker_config: expected key=value, got {line!r}")
        settings[key.strip()] = value.strip()
    settings.update({k: str(v) for k, v in (kwargs.get("config") or {}).items()})
    return Options(_choice("scope", scope, SCOPES), _choice("mode", mode, MODES), _choice("storage", storage, STORAGES),
                   tuple(sorted(settings.items())), bool(kwargs.get("metrics", False)),
                   bool(kwargs.get("control", False)))


def _start(options: Options, tmp_path_factory: pytest.TempPathFactory, stats: _Stats) -> "KafkaBroker":
    from kbroker.testing.brokers import KafkaBroker

    data_dir = tmp_path_factory.mktemp("kbroker") if options.storage == "disk" else None
    broker = KafkaBroker.start(options.mode, storage=options.storage, data_dir=data_dir, config=dict(options.config),
                               metrics=options.metrics, control=options.control or None)
    stats.starts.append((options.mode, broker.start_seconds or 0.0))
    return broker


class _Pool:
    """The shared brokers of a session, one per distinct settings, started on first use."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory, stats: _Stats) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.stats = stats
        self.brokers: dict[tuple, "KafkaBroker"] = {}

    def get(self, options: Options) -> "KafkaBroker":
        broker = self.brokers.get(options.key())
        if broker is None or not broker.alive():
            broker = self.brokers[options.key()] = _start(options, self.tmp_path_factory, self.stats)
        return broker

    def close(self) -> None:
        for broker in self.brokers.values():
            broker.stop()
        self.brokers.clear()


@pytest.fixture(scope="session")
def _kafka_broker_pool(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Pool]:
    pool = _Pool(tmp_path_factory, request.config.stash[_STATS])
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def kafka_broker_session(request: pytest.FixtureRequest, _kafka_broker_pool: _Pool) -> "KafkaBroker":
    """The session's shared broker with the run's default settings (for other session-scoped fixtures)."""
    return _kafka_broker_pool.get(_options(request.config, None))


@pytest.fixture
def kafka_cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """N kbrokers in this process replicating to each other (kbroker.testing.cluster.KafkaCluster), 3 by default,
    each on its own port and data directory: `.bootstrap`, `create_topic`, `leader`/`isr`, and the faults
    `stop(id)`, `kill(id)`, `start(id)`, `isolate(id)`, `heal(id)`. Settings by `@pytest.mark.kafka_cluster(...)`."""
    from kbroker.testing.cluster import KafkaCluster

    marker = request.node.get_closest_marker("kafka_cluster")
    kwargs = dict(marker.kwargs) if marker else {}
    if kwargs.get("in_memory"):
        kwargs.setdefault("data_dir", None)
    else:
        kwargs.setdefault("data_dir", tmp_path / "cluster")
    with KafkaCluster(**kwargs) as cluster:
        yield cluster


@pytest.fixture
def kafka_broker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator["KafkaBroker"]:
    """A running kbroker: `.bootstrap` for clients, helpers (`create_topic`, `produce`, `consume_all`, `admin`,
    `producer`, `consumer`) and `.faults` to inject errors, delays, dropped connections and group expiry."""
    options = _options(request.config, request.node.get_closest_marker("kafka_broker"))
    if options.scope == "function":
        broker = _start(options, tmp_path_factory, request.config.stash[_STATS])
        try:
            yield broker
        finally:
            broker.stop()
        return
    pool: _Pool = request.getfixturevalue("_kafka_broker_pool")
    broker = pool.get(options)
    try:
        yield broker
    finally:
        broker.close_clients()
        if broker.alive():
            try:
                broker.faults.clear()  # one test's faults never reach the next
            except Exception:
                pass


@pytest.fixture
def kafka_broker_factory(request: pytest.FixtureRequest,
                         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., "KafkaBroker"]]:
    """Start extra brokers: `kafka_broker_factory(mode=..., storage=..., config={...}, metrics=...)`; all are
    stopped after the test."""
    started: list["KafkaBroker"] = []
    stats = request.config.stash[_STATS]

    def make(*, mode: str | None = None, storage: str | None = None, config: dict[str, Any] | None = None,
             metrics: bool = False, control: bool = False) -> "KafkaBroker":
        base = _options(request.config, None)
        options = Options("function", _choice("mode", mode or base.mode, MODES),
                          _choice("storage", storage or base.storage, STORAGES),
                          tuple(sorted({**dict(base.config), **{k: str(v) for k, v in (config or {}).items()}}.items())),
                          metrics, control)
        broker = _start(options, tmp_path_factory, stats)
        started.append(broker)
        return broker

    yield make
    for broker in reversed(started):
        broker.stop()


@pytest.fixture
def kafka_secure_broker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A broker with PLAINTEXT, SASL_PLAINTEXT, SSL and SASL_SSL listeners (TLS from a CA generated for the test;
    SASL PLAIN, SCRAM-SHA-256/512 and OAUTHBEARER unsecured; users alice and bob with SCRAM credentials) and the
    client settings for it: `kafka_secure_broker.confluent("SASL_SSL", "SCRAM-SHA-256", "alice")`. Options through
    `@pytest.mark.kafka_secure_broker(users={...}, config={...})`; the SCRAM users are created through the PLAINTEXT
    listener, so with an authorizer User:ANONYMOUS must be in super.users. Needs the `cryptography` package."""
    from kbroker.testing.security import SecureBroker

    marker = request.node.get_closest_marker("kafka_secure_broker")
    kwargs = dict(marker.kwargs) if marker else {}
    broker = SecureBroker.start(tmp_path_factory.mktemp("kbroker-pki"), users=kwargs.get("users"),
                                config=kwargs.get("config"))
    try:
        yield broker
    finally:
        broker.stop()


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)  # an xdist worker: hand the timings over
    stats = session.config.stash.get(_STATS, None)
    if workeroutput is not None and stats is not None:
        workeroutput["kbroker_starts"] = [list(s) for s in stats.starts]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    starts = getattr(node, "workeroutput", {}).get("kbroker_starts")
    stats = node.config.stash.get(_STATS, None)
    if starts and stats is not None:
        stats.starts.extend((mode, float(seconds)) for mode, seconds in starts)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    stats = config.stash.get(_STATS, None)
    if not stats or not stats.starts or hasattr(config, "workeroutput"):
        return
    by_mode: dict[str, list[float]] = {}
    for mode, seconds in stats.starts:
        by_mode.setdefault(mode, []).append(seconds)
    parts = []
    for mode, times in sorted(by_mode.items()):
        times.sort()
        median = times[len(times) // 2]
        parts.append(f"{len(times)} {mode} (median {median * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms)")
    terminalreporter.write_line("kbroker: started " + ", ".join(parts))

