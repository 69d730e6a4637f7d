"""The broker: owns configuration, metadata, the partition logs and the background tasks, and is the one place
that changes topics. Handlers call into it; it never sees wire bytes.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import anyio

from kbroker.config import BrokerConfig
from kbroker.log import LogManager
from kbroker.metadata import INTERNAL_TOPICS, MetadataStore, TopicInfo, validate_topic_name
from kbroker.partition import Partition
from kbroker.topic_config import effective, log_config, validate_topic_configs
from wire.errors import ErrorCode, KafkaError

log = logging.getLogger(__name__)

MAX_PARTITIONS = 100_000


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Broker:
    def __init__(
        self,
        config: BrokerConfig,
        *,
        data_dir: Path | None,
        advertised: Endpoint,
    ) -> None:
        self.config = config
        self.node_id: int = config["node.id"]
        self.advertised = advertised
        self.in_memory = data_dir is None
        self.metadata = MetadataStore(data_dir, self.node_id, config["cluster.id"])
        self.logs = LogManager(data_dir, in_memory=data_dir is None)
        self.partitions: dict[tuple[str, int], Partition] = {}
        self._load()

    # -- start-up and shut-down

    def _load(self) -> None:
        def config_for(topic: str):  # type: ignore[no-untyped-def]
            info = self.metadata.topics.get(topic)
            return self.log_config_for(info) if info else log_config({}, self.config)

        existing = self.logs.load_all(config_for)
        for info in self.metadata.topics.values():
            cfg = self.log_config_for(info)
            for index in range(info.partitions):
                existing.pop((info.name, index), None)
                plog = self.logs.create(info.name, index, cfg)
                self.partitions[(info.name, index)] = Partition(info.name, index, plog)
        for (topic, index) in existing:
            log.warning("removing partition directory %s-%d of no known topic", topic, index)
            self.logs.delete(topic, index)

    async def run_background(self, task_status: anyio.abc.TaskStatus = anyio.TASK_STATUS_IGNORED) -> None:
        """Retention, for as long as the broker runs; cancelled with it."""
        task_status.started()
        interval = max(self.config["log.retention.check.interval.ms"], 100) / 1000
        while True:
            await anyio.sleep(interval)
            self.enforce_retention()

    def enforce_retention(self) -> None:
        now = now_ms()
        for partition in self.partitions.values():
            try:
                partition.log.enforce_retention(now)
            except Exception:  # one broken log must not stop retention of the others
                log.exception("retention failed for %s-%d", partition.topic, partition.index)

    def close(self) -> None:
        self.logs.close_all()

    # -- topics

    def log_config_for(self, info: TopicInfo):  # type: ignore[no-untyped-def]
        return log_config(info.configs, self.config)

    def topic_config(self, topic: str, key: str) -> str:
        info = self.metadata.topics[topic]
        return effective(key, info.configs, self.config)

    def topic(self, name: str) -> TopicInfo | None:
        return self.metadata.topics.get(name)

    def partition(self, topic: str, index: int) -> Partition | None:
        return self.partitions.get((topic, index))

    def check_new_topic(
        self, name: str, num_partitions: int, replication_factor: int, configs: dict[str, str | None]
    ) -> tuple[int, int, dict[str, str]]:
        """Validate a topic creation; the (partitions, replication factor, configs) it would get."""
        validate_topic_name(name)
        if name in self.metadata.topics:
            raise KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{name}' already exists.")
        if num_partitions == -1:
            num_partitions = self.config["num.partitions"]
        if num_partitions <= 0:
            raise KafkaError(ErrorCode.INVALID_PARTITIONS, "Number of partitions was set to an invalid non-positive value.")
        if num_partitions > MAX_PARTITIONS:
            raise KafkaError(ErrorCode.INVALID_PARTITIONS, f"Number of partitions {num_partitions} is above {MAX_PARTITIONS}.")
        if replication_factor == -1:
            replication_factor = self.config["default.replication.factor"]
        if replication_factor <= 0:
            raise KafkaError(
                ErrorCode.INVALID_REPLICATION_FACTOR, "Replication factor must be larger than 0, or -1 to use the default value."
            )
        if replication_factor > 1:
            raise KafkaError(
                ErrorCode.INVALID_REPLICATION_FACTOR,
                f"Unable to replicate the partition {replication_factor} time(s): The target replication factor of "
                f"{replication_factor} cannot be reached because only 1 broker(s) are registered.",
            )
        return num_partitions, replication_factor, validate_topic_configs(configs)

    def create_topic(self, name: str, num_partitions: int, configs: dict[str, str]) -> TopicInfo:
        info = self.metadata.add_topic(name, num_partitions, configs)
        cfg = self.log_config_for(info)
        for index in range(num_partitions):
            self.partitions[(name, index)] = Partition(name, index, self.logs.create(name, index, cfg))
        log.info("created topic %s with %d partition(s)", name, num_partitions)
        return info

    def auto_create_topic(self, name: str) -> TopicInfo:
        partitions, _, configs = self.check_new_topic(name, -1, -1, {})
        return self.create_topic(name, partitions, configs)

    def delete_topic(self, name: str) -> TopicInfo:
        if not self.config["delete.topic.enable"]:
            raise KafkaError(ErrorCode.TOPIC_DELETION_DISABLED)
        info = self.metadata.topics.get(name)
        if info is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        if name in INTERNAL_TOPICS:
            raise KafkaError(ErrorCode.INVALID_REQUEST, f"Cannot delete internal topic {name}")
        self.metadata.remove_topic(name)
        for index in range(info.partitions):
            self.partitions.pop((name, index), None)
            self.logs.delete(name, index)
        log.info("deleted topic %s", name)
        return info

    def add_partitions(self, name: str, count: int, *, validate_only: bool) -> None:
        info = self.metadata.topics.get(name)
        if info is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"The topic '{name}' does not exist.")
        if count < info.partitions:
            raise KafkaError(
                ErrorCode.INVALID_PARTITIONS,
                f"Topic currently has {info.partitions} partitions, which is higher than the requested {count}.",
            )
        if count == info.partitions:
            raise KafkaError(ErrorCode.INVALID_PARTITIONS, f"Topic already has {count} partitions.")
        if count > MAX_PARTITIONS:
            raise KafkaError(ErrorCode.INVALID_PARTITIONS, f"Number of partitions {count} is above {MAX_PARTITIONS}.")
        if validate_only:
            return
        cfg = self.log_config_for(info)
        for index in range(info.partitions, count):
            self.partitions[(name, index)] = Partition(name, index, self.logs.create(name, index, cfg))
        self.metadata.set_partitions(name, count)
