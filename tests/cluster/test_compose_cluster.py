"""docker/compose.cluster.yaml (ZooKeeper and three brokers in containers) cannot be run here (no Docker engine):
check that it parses, and that each broker's command line, as the image's entrypoint completes it, is one that
`kbroker serve` accepts, with its own id, port, advertised address, health check and volume, on the ZooKeeper
service of the same file."""
from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from kbroker.cli import parser
from tests.helpers import docker_engine

yaml = pytest.importorskip("yaml")  # the test extra installs it

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.cluster.yaml"


def _entrypoint_args(dockerfile: str) -> list[str]:
    """The `kbroker serve ...` arguments the image's ENTRYPOINT puts before the service's command."""
    line = next(line for line in dockerfile.splitlines() if line.startswith("ENTRYPOINT"))
    script = line.split('"-c", "', 1)[1].split('", "--"]', 1)[0].replace('\\"', '"')
    words = shlex.split(script)
    assert words[:3] == ["exec", "kbroker", "serve"] and words[-1] == "$@"
    return words[3:-1]


def test_compose_cluster_file() -> None:
    spec = yaml.safe_load(COMPOSE.read_text())
    services = spec["services"]
    assert set(services) == {"zookeeper", "broker-1", "broker-2", "broker-3"}
    zk = services["zookeeper"]
    assert zk["image"].startswith("zookeeper:") and zk["network_mode"] == "host" and zk["healthcheck"]["test"]
    entry = _entrypoint_args((ROOT / "docker" / "Dockerfile").read_text())
    for node_id in (1, 2, 3):
        broker = services[f"broker-{node_id}"]
        assert broker["build"]["dockerfile"] == "docker/Dockerfile"
        assert (ROOT / "docker" / broker["build"]["context"] / "pyproject.toml").exists()
        assert broker["network_mode"] == "host"
        assert broker["depends_on"]["zookeeper"]["condition"] == "service_healthy"
        advertised = broker["environment"]["KBROKER_ADVERTISED"]
        argv = ["serve"] + [advertised if a == "$KBROKER_ADVERTISED" else a for a in entry] + broker["command"]
        args = parser().parse_args(argv)
        assert args.node_id == node_id
        assert args.listen == ("127.0.0.1", 9090 + node_id)  # the same addresses as `make cluster`
        assert f"{args.advertised_listener[0]}:{args.advertised_listener[1]}" == advertised == f"127.0.0.1:{9090 + node_id}"
        settings = dict(args.set)
        assert settings["zookeeper.connect"] == "127.0.0.1:2181/kbroker"
        assert broker["healthcheck"]["test"] == ["CMD", "kbroker-healthcheck", advertised]
        volume = broker["volumes"][0].split(":")
        assert volume[1] == "/data" and volume[0] in spec["volumes"]
    assert len({services[f"broker-{i}"]["volumes"][0] for i in (1, 2, 3)}) == 3  # no shared data directory


@pytest.mark.skipif(not docker_engine(), reason="no Docker engine on this machine")
def test_compose_cluster_config_validates() -> None:
    import subprocess

    proc = subprocess.run(["docker", "compose", "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
