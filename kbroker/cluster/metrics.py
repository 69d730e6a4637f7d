"""Replication metrics under the names Kafka's JMX metrics get through the Prometheus JMX exporter, so dashboards
and alerts written for Kafka work: under-replicated and offline partitions, ISR shrinks and expands, the active
controller count, leader and partition counts, and each follower's lag as its leader sees it."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    from kbroker.broker import Broker


def families(broker: "Broker") -> Iterable[Any]:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    cluster = broker.cluster
    if cluster is None:
        return
    led = [p for p in broker.partitions.values() if p.replica is not None and p.replica.is_leader]
    under = sum(1 for p in led if len(p.replica.isr) < len(p.replica.replicas))
    yield GaugeMetricFamily("kafka_server_replicamanager_underreplicatedpartitions",
                            "Partitions this broker leads whose ISR is smaller than their replica set.", value=under)
    yield GaugeMetricFamily("kafka_server_replicamanager_leadercount", "Partitions this broker leads.",
                            value=len(led))
    yield GaugeMetricFamily("kafka_server_replicamanager_partitioncount", "Partitions this broker hosts.",
                            value=sum(1 for p in broker.partitions.values() if p.replica is not None))
    manager = cluster.replicas
    yield CounterMetricFamily("kafka_server_replicamanager_isrshrinks", "ISR shrinks proposed by this broker "
                              "and accepted.", value=manager.isr_shrinks)
    yield CounterMetricFamily("kafka_server_replicamanager_isrexpands", "ISR expansions proposed by this broker "
                              "and accepted.", value=manager.isr_expands)
    active = cluster.controller.active
    yield GaugeMetricFamily("kafka_controller_kafkacontroller_activecontrollercount",
                            "1 on the broker that is the controller.", value=1 if active else 0)
    offline = sum(1 for s in cluster.md.states.values() if s.leader < 0) if active else 0
    yield GaugeMetricFamily("kafka_controller_kafkacontroller_offlinepartitionscount",
                            "Partitions without a leader (reported by the controller).", value=offline)
    lag = GaugeMetricFamily("kafka_server_fetcherlagmetrics_consumerlag",
                            "Messages a follower is behind its leader, as the leader sees it.",
                            labels=["topic", "partition", "replica"])
    for p in led:
        end = p.log.log_end_offset
        for follower in p.replica.followers.values():
            behind = end - follower.log_end_offset if follower.log_end_offset >= 0 else end
            lag.add_metric([p.topic, str(p.index), str(follower.broker_id)], max(0, behind))
    yield lag
