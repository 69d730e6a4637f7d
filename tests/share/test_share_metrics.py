"""Share groups on kbroker's Prometheus endpoint (kbroker_sharegroup_*)."""
from __future__ import annotations

import urllib.request

import pytest

from tests.conftest import BrokerProcess
from tests.helpers import unique, wait_until
from tests.rawclient import RawClient
from tests.share.conftest import produce, set_group_configs, share_consumer


@pytest.fixture(scope="module")
def metrics_broker(tmp_path_factory):  # type: ignore[no-untyped-def]
    b = BrokerProcess(tmp_path_factory.mktemp("sharemetrics") / "data", metrics=True).start()
    yield b
    b.stop()


def test_share_groups_on_the_metrics_endpoint(metrics_broker) -> None:
    topic, group = unique("shmetrics"), unique("g")
    with RawClient(metrics_broker.bootstrap) as c:
        c.request(19, 5, {"topics": [{"name": topic, "num_partitions": 1, "replication_factor": 1, "assignments": [],
                                      "configs": []}], "timeout_ms": 5000, "validate_only": False})
    set_group_configs(metrics_broker.bootstrap, group, {"share.auto.offset.reset": "earliest"})
    produce(metrics_broker.bootstrap, topic, 10)
    consumer = share_consumer(metrics_broker.bootstrap, group, topic)

    def scraped() -> str:
        consumer.poll(0.3)
        text = urllib.request.urlopen(metrics_broker.metrics_url, timeout=10).read().decode()
        wanted = f'kbroker_sharegroup_start_offset{{group="{group}",partition="0",topic="{topic}"}} 10.0'
        return text if wanted in text else ""

    try:
        text = wait_until(scraped, 30, step=0.2, what="the share group's start offset at 10")
    finally:
        consumer.close()
    assert f'kbroker_sharegroup_members{{group="{group}"}} 1.0' in text
    assert f'kbroker_sharegroup_backlog{{group="{group}",partition="0",topic="{topic}"}} 0.0' in text
