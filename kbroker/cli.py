"""Command line: `kbroker serve` with Kafka server.properties keys for everything not a flag."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import anyio

from kbroker import __version__
from kbroker.app import Settings, run_broker
from kbroker.config import BrokerConfig


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    try:
        return host.strip("[]") or "0.0.0.0", int(port)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad port in {text!r}") from exc


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
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
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
                        advertised_port=adv[1] if adv else None, data_dir=data_dir)
    try:
        anyio.run(run_broker, settings, config)
    except KeyboardInterrupt:
        pass
    return 0
