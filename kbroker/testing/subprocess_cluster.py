"""A kbroker cluster in separate processes on one ZooKeeper: N `kbroker serve --node-id N --set
zookeeper.connect=...` children, each with its own data directory and port, for tests that kill brokers for
real (SIGKILL) and for `make cluster` (see `main`).

    from kbroker.testing.subprocess_cluster import SubprocessCluster
    with SubprocessCluster(brokers=3, config={"min.insync.replicas": 2}) as cluster:
        producer = Producer({"bootstrap.servers": cluster.bootstrap})
        cluster.kill(2)          # SIGKILL: no clean shutdown
        cluster.start(2)         # same node id, port and data directory
"""
from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterable

from kbroker.testing.brokers import SubprocessBroker
from kbroker.testing.client import WireClient
from kbroker.testing.zookeeper import ZooKeeperServer, free_port

METADATA_V = 12


class SubprocessCluster:
    """`brokers` kbroker processes (node ids 1..N unless `node_ids` says otherwise) on one ZooKeeper.

    Without `zookeeper`/`connect_string` a ZooKeeper of its own is started (and stopped by `close`) in the data
    directory. `ports` fixes each broker's port (default: free ports, chosen once so restarts keep them)."""

    def __init__(self, brokers: int = 3, *, data_dir: Path | str | None = None,
                 zookeeper: ZooKeeperServer | None = None, connect_string: str | None = None,
                 chroot: str = "/kbroker", config: dict[str, Any] | None = None, extra_args: Iterable[str] = (),
                 node_ids: Iterable[int] | None = None, ports: dict[int, int] | None = None,
                 zookeeper_port: int = 0) -> None:
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir) if data_dir is not None else Path(tempfile.mkdtemp(prefix="kbroker-cluster-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._own_zookeeper = zookeeper is None and connect_string is None
        if self._own_zookeeper:
            zookeeper = ZooKeeperServer(self.data_dir / "zookeeper", port=zookeeper_port)
        self.zookeeper = zookeeper
        self._hosts = connect_string.split("/", 1)[0] if connect_string else None
        self.chroot = "/" + (connect_string.split("/", 1)[1] if connect_string and "/" in connect_string
                             else chroot.strip("/"))
        self.config = dict(config or {})
        self.extra_args = list(extra_args)
        ids = list(node_ids) if node_ids is not None else list(range(1, brokers + 1))
        self.ports = {i: (ports or {}).get(i) or free_port() for i in ids}
        self.brokers: dict[int, SubprocessBroker] = {}

    # -- addresses

    @property
    def connect_string(self) -> str:
        hosts = self._hosts or (self.zookeeper.hosts if self.zookeeper else "")
        return hosts + ("" if self.chroot == "/" else self.chroot)

    @property
    def node_ids(self) -> list[int]:
        return sorted(self.ports)

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.ports[i]}" for i in self.node_ids)

    def broker_dir(self, node_id: int) -> Path:
        return self.data_dir / f"broker-{node_id}"

    def _broker(self, node_id: int) -> SubprocessBroker:
        if node_id not in self.ports:
            raise KeyError(f"no broker {node_id} in this cluster (brokers {self.node_ids})")
        broker = self.brokers.get(node_id)
        if broker is None:
            settings = {"zookeeper.connect": self.connect_string, **self.config}
            args = ["--node-id", str(node_id)]
            for key, value in settings.items():
                args += ["--set", f"{key}={value}"]
            broker = SubprocessBroker(self.broker_dir(node_id), *args, *self.extra_args, port=self.ports[node_id])
            self.brokers[node_id] = broker
        return broker

    # -- life cycle

    def start(self, node_id: int | None = None, timeout: float = 60.0) -> "SubprocessCluster":
        """Start one broker (same id, port and data as before), or everything not running (ZooKeeper first)."""
        if node_id is not None:
            self._broker(node_id).start(timeout)
            return self
        if self.zookeeper is not None and self._own_zookeeper and not self.zookeeper.alive():
            self.zookeeper.start(timeout)
        for i in self.node_ids:
            broker = self._broker(i)
            if not broker.alive():
                broker.start(timeout)
        return self

    def stop(self, node_id: int, timeout: float = 30.0) -> None:
        """Clean shutdown of one broker (SIGTERM; it leaves the cluster as Kafka's controlled shutdown does)."""
        self._broker(node_id).stop(timeout)

    def kill(self, node_id: int) -> None:
        """SIGKILL one broker: no shutdown at all, its ZooKeeper session expires after its timeout."""
        self._broker(node_id).kill()

    def alive(self, node_id: int) -> bool:
        return node_id in self.brokers and self.brokers[node_id].alive()

    def close(self) -> None:
        """Stop every broker, then ZooKeeper (when this cluster started it); delete a data directory it made."""
        errors = []
        for broker in self.brokers.values():
            try:
                broker.stop()
            except Exception as e:  # keep stopping the others
                errors.append(e)
                broker.kill()
        if self._own_zookeeper and self.zookeeper is not None:
            self.zookeeper.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        if errors:
            raise errors[0]

    def __enter__(self) -> "SubprocessCluster":
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what the brokers say

    def metadata_brokers(self, node_id: int, timeout: float = 10.0) -> list[int]:
        """The node ids a broker's Metadata answer lists."""
        with WireClient(f"127.0.0.1:{self.ports[node_id]}", timeout=timeout) as client:
            body = {"topics": [], "allow_auto_topic_creation": False, "include_topic_authorized_operations": False}
            answer = client.request(3, METADATA_V, body)
        return sorted(b["node_id"] for b in answer["brokers"])

    def wait_formed(self, timeout: float = 60.0, node_ids: Iterable[int] | None = None) -> None:
        """Wait until every running broker's Metadata lists all the running brokers; RuntimeError naming what
        each one lists otherwise (a broker that ignores zookeeper.connect lists only itself)."""
        deadline = time.monotonic() + timeout
        wanted = sorted(node_ids) if node_ids is not None else [i for i in self.node_ids if self.alive(i)]
        seen: dict[int, Any] = {}
        while True:
            for i in wanted:
                try:
                    seen[i] = self.metadata_brokers(i)
                except Exception as e:
                    seen[i] = repr(e)
            if all(seen[i] == wanted for i in wanted):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"brokers {wanted} do not form one cluster within {timeout} s; each lists: "
                                   f"{seen} (zookeeper.connect={self.connect_string})")
            time.sleep(0.2)


# ---------------------------------------------------------------------------------------------------------------
# `make cluster`: a local ZooKeeper and three brokers in the foreground; Ctrl-C stops them all


def _forward_logs(cluster: SubprocessCluster, stop: threading.Event) -> None:
    """Move each broker's output from memory to DIR/broker-N.log (a dev cluster may run for hours)."""
    while True:
        for node_id, broker in list(cluster.brokers.items()):
            lines = broker.output
            n = len(lines)
            if n:
                with open(cluster.data_dir / f"broker-{node_id}.log", "a") as log:
                    log.writelines(lines[:n])
                del lines[:n]
        if stop.wait(0.5):
            return


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m kbroker.testing.subprocess_cluster",
                                description="A local ZooKeeper and N kbroker brokers, in the foreground.")
    p.add_argument("--data-dir", type=Path, default=Path("kbroker-cluster"), help="all data and logs go here")
    p.add_argument("--brokers", type=int, default=3)
    p.add_argument("--base-port", type=int, default=9090, help="broker N listens on BASE+N (default 9091..9093)")
    p.add_argument("--zookeeper-port", type=int, default=2181)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a setting for every broker")
    args = p.parse_args(argv)
    config = dict(item.split("=", 1) for item in args.set)
    ids = range(1, args.brokers + 1)
    cluster = SubprocessCluster(args.brokers, data_dir=args.data_dir, config=config, zookeeper_port=args.zookeeper_port,
                                ports={i: args.base_port + i for i in ids})
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C, even when started with SIGINT ignored
    forwarder = threading.Thread(target=_forward_logs, args=(cluster, stop), daemon=True)
    return_code = 0
    try:
        assert cluster.zookeeper is not None
        print(f"starting ZooKeeper on {cluster.zookeeper.host}:{args.zookeeper_port} "
              f"(data in {cluster.data_dir / 'zookeeper'})", flush=True)
        cluster.zookeeper.start()
        forwarder.start()
        for i in ids:
            cluster.start(i)
            print(f"broker {i}: 127.0.0.1:{cluster.ports[i]}, data in {cluster.broker_dir(i)}, "
                  f"log in {cluster.data_dir / f'broker-{i}.log'}", flush=True)
        print(f"cluster up: bootstrap.servers={cluster.bootstrap}  zookeeper.connect={cluster.connect_string}\n"
              "Ctrl-C stops everything.", flush=True)
        while not stop.wait(1.0):
            for i in ids:
                if not cluster.alive(i):
                    print(f"broker {i} exited with {cluster.brokers[i].proc.returncode}; "  # type: ignore[union-attr]
                          f"see {cluster.data_dir / f'broker-{i}.log'}", flush=True)
                    stop.set()
    except KeyboardInterrupt:
        pass
    except Exception as e:
        print(f"cluster failed to start: {e}", file=sys.stderr, flush=True)
        return_code = 1
    finally:
        print("stopping brokers and ZooKeeper...", flush=True)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave orphans
        try:
            cluster.close()
        finally:
            stop.set()
            forwarder.join(5)
            _flush_remaining(cluster)
        print("stopped.", flush=True)
    return return_code


def _flush_remaining(cluster: SubprocessCluster) -> None:
    for node_id, broker in cluster.brokers.items():
        if broker.output:
            with open(cluster.data_dir / f"broker-{node_id}.log", "a") as log:
                log.writelines(broker.output)
            broker.output.clear()


if __name__ == "__main__":
    sys.exit(main())
