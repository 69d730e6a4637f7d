"""Command line: `kbroker serve` with Kafka server.properties keys for everything not a flag."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import anyio

from kbroker import __version__
from kbroker.app import Settings, ShutdownGuard, backend_options, run_broker
from kbroker.config import BrokerConfig
from kbroker.logsafe import SafeFormatter


def _host_port(text: str, default_host: str = "0.0.0.0") -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    try:
        return host.strip("[]") or default_host, int(port)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad port in {text!r}") from exc


def _loopback_host_port(text: str) -> tuple[str, int]:
    """HOST:PORT where a bare `:PORT` means loopback: the control endpoint is reachable from elsewhere only when
    asked for by name."""
    return _host_port(text, "127.0.0.1")


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    return key.strip(), value.strip()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kbroker", description="A Kafka broker in Python.")
    p.add_argument("--version", action="version", version=f"kbroker {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run a broker")
    s.add_argument("--listen", type=_host_port, default=("127.0.0.1", 9092), metavar="HOST:PORT",
                   help="address to listen on (default 127.0.0.1:9092; port 0 picks a free one)")
    s.add_argument("--advertised-listener", type=_host_port, metavar="HOST:PORT",
                   help="address clients are told to connect to (default: the listen address)")
    s.add_argument("--data-dir", type=Path, help="data directory (default ./kbroker-data, or log.dirs)")
    s.add_argument("--in-memory", action="store_true", help="keep everything in memory; nothing is written to disk")
    s.add_argument("--node-id", type=int, help="node id (node.id)")
    s.add_argument("--config", type=Path, metavar="FILE", help="a server.properties file")
    s.add_argument("--set", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                   help="set a server.properties key (repeatable; wins over --config)")
    s.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    s.add_argument("--log-format", choices=("text", "json"), default="text",
                   help="log lines as text (default) or as one JSON object per line")
    s.add_argument("--metrics-listen", type=_host_port, metavar="HOST:PORT",
                   help="serve Prometheus metrics at http://HOST:PORT/metrics (needs kbroker[metrics]; port 0 picks one)")
    s.add_argument("--control-listen", type=_loopback_host_port, metavar="HOST:PORT",
                   help="serve the fault-injection HTTP endpoint there (for tests; :PORT means 127.0.0.1:PORT)")
    s.add_argument("--control-token", default=os.environ.get("KBROKER_CONTROL_TOKEN") or None, metavar="TOKEN",
                   help="the token every control request must carry (Authorization: Bearer TOKEN); default: "
                        "$KBROKER_CONTROL_TOKEN, else a random one printed at start")
    c = sub.add_parser("check-log", help="check a data directory for crash consistency (kbroker.log.check)")
    c.add_argument("directory", type=Path, help="a data directory, or one partition's directory in it")
    c.add_argument("--verbose", action="store_true", help="list every partition, not only those with findings")
    c.add_argument("--json", action="store_true", help="print the reports as JSON")
    c = sub.add_parser("cluster", help="run N brokers in one process, replicating to each other")
    c.add_argument("--brokers", type=int, default=3, help="how many brokers (default 3); node ids 1..N")
    c.add_argument("--listen", type=_host_port, default=("127.0.0.1", 9092), metavar="HOST:PORT",
                   help="the first broker's address; the others listen on PORT+1, PORT+2, ... (port 0: free ports)")
    c.add_argument("--data-dir", type=Path, help="data directory (one sub-directory per broker; default "
                   "./kbroker-cluster-data)")
    c.add_argument("--in-memory", action="store_true", help="keep everything in memory")
    c.add_argument("--config", type=Path, metavar="FILE", help="a server.properties file for every broker")
    c.add_argument("--set", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                   help="set a server.properties key for every broker (repeatable)")
    c.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    c.add_argument("--log-format", choices=("text", "json"), default="text")
    return p


def check_log(args: argparse.Namespace) -> int:
    """`kbroker check-log DIR`: exit 0 when no partition has an error, 1 when one has, 2 when DIR is unreadable."""
    from dataclasses import asdict

    from kbroker.log.check import check_directory, format_reports

    try:
        reports = check_directory(args.directory)
    except OSError as exc:
        print(f"kbroker: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([asdict(r) for r in reports], indent=1))
    else:
        print(format_reports(reports, verbose=args.verbose))
    return 1 if any(r.errors for r in reports) else 0


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (RFC 3339, UTC), level, logger, message, and exc_info when there is one.
    json.dumps escapes every control and non-ASCII character, so client strings cannot break a line."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup_logging(level: str, fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        # escaped: client ids, topic and group names reach the messages raw from the wire
        handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


def _cluster(args: argparse.Namespace) -> int:
    from kbroker.cluster_app import run_cluster

    config = BrokerConfig()
    try:
        if args.config:
            config.load_properties(args.config)
        config.update(args.set)
    except (OSError, ValueError) as exc:
        print(f"kbroker: {exc}", file=sys.stderr)
        return 2
    if args.brokers < 1:
        print("kbroker: --brokers must be at least 1", file=sys.stderr)
        return 2
    data_dir = None if args.in_memory else (args.data_dir or Path("./kbroker-cluster-data"))
    try:
        anyio.run(run_cluster, args.brokers, args.listen[0], args.listen[1], data_dir, config)
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "check-log":
        return check_log(args)
    setup_logging(args.log_level, args.log_format)
    if args.command == "cluster":
        return _cluster(args)
    if args.metrics_listen:
        from kbroker.metrics import available

        if not available():
            print("kbroker: --metrics-listen needs prometheus_client: pip install 'kbroker[metrics]'", file=sys.stderr)
            return 2
        import prometheus_client

        prometheus_client.disable_created_metrics()  # no *_created series: this process is the broker's own
    config = BrokerConfig()
    try:
        if args.config:
            config.load_properties(args.config)
        config.update(args.set)
        if args.node_id is not None:
            config.update([("node.id", str(args.node_id))])
    except (OSError, ValueError) as exc:
        print(f"kbroker: {exc}", file=sys.stderr)
        return 2
    data_dir = None if args.in_memory else (args.data_dir or Path(config["log.dirs"].split(",")[0]))
    adv = args.advertised_listener
    settings = Settings(host=args.listen[0], port=args.listen[1], advertised_host=adv[0] if adv else None,
                        advertised_port=adv[1] if adv else None, data_dir=data_dir,
                        metrics_listen=args.metrics_listen, control_listen=args.control_listen,
                        control_token=args.control_token)
    from kbroker.security.setup import SecurityConfigError

    try:
        anyio.run(run_broker, settings, config, backend_options=backend_options())
    except KeyboardInterrupt:
        pass
    except SecurityConfigError as exc:  # a listener, TLS, SASL or authorizer setting Kafka would refuse too
        print(f"kbroker: {exc}", file=sys.stderr)
        return 2
    finally:
        ShutdownGuard.uninstall()
    return 0
