"""What a new user does: `pip install kbroker` into a fresh virtual environment, write a test that only uses the
`kafka_broker` fixture with confluent-kafka, and run 50 function-scoped brokers, then the same under xdist.

The project is copied (the files the Docker image copies too) so that building it leaves nothing in the tree.
Every step is bounded; the whole test takes some 15-30 s with a warm pip cache.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

USER_TEST = '''
import pytest
from confluent_kafka import Consumer, Producer


def test_produce_and_consume(kafka_broker):
    topic = kafka_broker.create_topic()
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap})
    for i in range(3):
        producer.produce(topic, f"hello {i}".encode())
    assert producer.flush(10) == 0
    consumer = Consumer({"bootstrap.servers": kafka_broker.bootstrap, "group.id": "g",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    got = []
    for _ in range(150):
        msg = consumer.poll(0.2)
        if msg is not None and not msg.error():
            got.append(msg.value())
        if len(got) == 3:
            break
    consumer.close()
    assert got == [b"hello 0", b"hello 1", b"hello 2"]


@pytest.mark.kafka_broker(scope="function")
@pytest.mark.parametrize("n", range(50))
def test_a_broker_per_test(kafka_broker, n):
    assert kafka_broker.topics() == []  # a fresh broker every time
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap})
    producer.produce(f"topic-{n}", f"value {n}".encode())
    assert producer.flush(10) == 0
    assert kafka_broker.values(f"topic-{n}") == [f"value {n}".encode()]
'''


def _run(args: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def test_fresh_venv_pip_install_then_50_function_scoped_brokers(tmp_path: Path) -> None:
    source = tmp_path / "kbroker-src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for name in ("kbroker", "wire"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    _run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(source), "pytest",
          "pytest-xdist", "confluent-kafka"], tmp_path, timeout=600)

    project = tmp_path / "user-project"
    project.mkdir()
    (project / "test_user.py").write_text(USER_TEST)
    # not kbroker's checkout: the plugin must come from the installed package's pytest11 entry point
    serial = _run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py"], project, timeout=300)
    assert "51 passed" in serial.stdout, serial.stdout
    timing = re.search(r"kbroker: started 51 inprocess \(median (\d+) ms, max (\d+) ms\)", serial.stdout)
    assert timing, serial.stdout
    print(f"\nfresh venv, 51 in-process brokers: median start {timing.group(1)} ms, max {timing.group(2)} ms")

    parallel = _run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "test_user.py"], project,
                    timeout=300)
    assert "51 passed" in parallel.stdout, parallel.stdout
    assert "kbroker: started 51 inprocess" in parallel.stdout, parallel.stdout

    sub = _run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--kafka-broker-mode",
                "subprocess", "test_user.py"], project, timeout=300)
    assert "51 passed" in sub.stdout, sub.stdout
    timing = re.search(r"kbroker: started 51 subprocess \(median (\d+) ms, max (\d+) ms\)", sub.stdout)
    assert timing, sub.stdout
    print(f"fresh venv, 51 subprocess brokers under -n 2: median start {timing.group(1)} ms, max {timing.group(2)} ms")

