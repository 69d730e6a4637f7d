"""kbroker as a testcontainers module, for test suites that already run their services with testcontainers.

    pip install 'kbroker[testcontainers]'
    docker build -f docker/Dockerfile -t kbroker .          # from a kbroker checkout (or KBrokerContainer.build_image())

    from kbroker.testing.container import KBrokerContainer

    with KBrokerContainer() as kafka:
        producer = confluent_kafka.Producer({"bootstrap.servers": kafka.get_bootstrap_server()})

The advertised listener must be the address the host reaches the container at, known only once the container
runs (the mapped port); so, like testcontainers' own KafkaContainer, the container waits for a start script
that `start()` writes into it with that address. Metrics and the fault-injection endpoint can be exposed too.
"""
from __future__ import annotations

import io
import secrets
import shlex
import tarfile
import time
from pathlib import Path
from typing import Any

try:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs
except ImportError as exc:  # pragma: no cover - depends on the optional extra
    raise ImportError("KBrokerContainer needs testcontainers: pip install 'kbroker[testcontainers]'") from exc

from kbroker.testing.brokers import RemoteFaults

KAFKA_PORT = 9092
METRICS_PORT = 9404
CONTROL_PORT = 9405
START_SCRIPT = "/tmp/kbroker-start.sh"
DEFAULT_IMAGE = "kbroker:latest"


class KBrokerContainer(DockerContainer):
    """A kbroker container (in memory unless `data_dir_in_container` is given) on a mapped port."""

    def __init__(self, image: str = DEFAULT_IMAGE, *, config: dict[str, Any] | None = None, metrics: bool = False,
                 control: bool = False, in_memory: bool = True, **kwargs: Any) -> None:
        super().__init__(image, **kwargs)
        self.config = {k: str(v) for k, v in (config or {}).items()}
        self.metrics = metrics
        self.control = control
        self.in_memory = in_memory
        self.control_token = secrets.token_urlsafe(24) if control else None
        if self.control_token:
            self.with_env("KBROKER_CONTROL_TOKEN", self.control_token)
        ports = [KAFKA_PORT] + ([METRICS_PORT] if metrics else []) + ([CONTROL_PORT] if control else [])
        self.with_exposed_ports(*ports)
        # replace the image's entrypoint: wait for the start script that knows the mapped port
        self.with_kwargs(entrypoint=["/bin/sh", "-c",
                                     f"while [ ! -f {START_SCRIPT} ]; do sleep 0.05; done; exec /bin/sh {START_SCRIPT}"])

    # -- addresses

    def get_bootstrap_server(self) -> str:
        return f"{self.get_container_host_ip()}:{self.get_exposed_port(KAFKA_PORT)}"

    @property
    def bootstrap(self) -> str:
        return self.get_bootstrap_server()

    def metrics_url(self) -> str:
        if not self.metrics:
            raise RuntimeError("started without metrics=True")
        return f"http://{self.get_container_host_ip()}:{self.get_exposed_port(METRICS_PORT)}/metrics"

    def control_url(self) -> str:
        if not self.control:
            raise RuntimeError("started without control=True")
        return f"http://{self.get_container_host_ip()}:{self.get_exposed_port(CONTROL_PORT)}"

    @property
    def faults(self) -> RemoteFaults:
        assert self.control_token is not None
        return RemoteFaults(self.control_url(), self.control_token)

    # -- lifecycle

    def command_line(self) -> list[str]:
        args = ["kbroker", "serve", "--listen", f"0.0.0.0:{KAFKA_PORT}",
                "--advertised-listener", self.get_bootstrap_server()]
        args += ["--in-memory"] if self.in_memory else ["--data-dir", "/data"]
        if self.metrics:
            args += ["--metrics-listen", f"0.0.0.0:{METRICS_PORT}"]
        if self.control:
            args += ["--control-listen", f"0.0.0.0:{CONTROL_PORT}"]
        for key, value in self.config.items():
            args += ["--set", f"{key}={value}"]
        return args

    def start(self, timeout: float = 60) -> "KBrokerContainer":
        super().start()
        script = "exec " + " ".join(shlex.quote(a) for a in self.command_line()) + "\n"
        self._put_file(START_SCRIPT, script.encode())
        wait_for_logs(self, r"kbroker ready", timeout=timeout, interval=0.1)
        return self

    def _put_file(self, path: str, content: bytes) -> None:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(name=Path(path).name)
            info.size = len(content)
            info.mtime = int(time.time())
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
        self.get_wrapped_container().put_archive(str(Path(path).parent), buf.getvalue())

    @staticmethod
    def build_image(source: str | Path | None = None, tag: str = DEFAULT_IMAGE) -> str:
        """Build the image from a kbroker source tree (default: the one this module comes from, if it is one)."""
        import docker

        root = Path(source) if source is not None else Path(__file__).resolve().parents[2]
        if not (root / "docker" / "Dockerfile").is_file():
            raise FileNotFoundError(f"no docker/Dockerfile under {root}: pass the kbroker source tree")
        docker.from_env().images.build(path=str(root), dockerfile="docker/Dockerfile", tag=tag, rm=True)
        return tag
