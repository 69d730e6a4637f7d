"""The broker: owns configuration, metadata, the partition logs and the background tasks, and is the one place
that changes topics. Handlers call into it; it never sees wire bytes.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import anyio

from kbroker.config import BrokerConfig
from kbroker.config_effect import warn_no_effect
from kbroker.log import LogManager, OffsetOutOfRange
from kbroker.log.cleaner import CleanerConfig, CleanTarget, LogCleaner
from kbroker.logsafe import Throttled
from kbroker.metadata import INTERNAL_TOPICS, MetadataStore, TopicInfo, validate_topic_name
from kbroker.partition import Partition
from kbroker.quotas import QuotaManager
from kbroker.security.setup import BrokerSecurity
from kbroker.topic_config import cleanup_policy, effective, log_config, validate_topic_configs, value_of
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
        self.listener_endpoints: dict[str, Endpoint] = {}
        """Advertised endpoint of each named listener (filled by the app once the listeners are bound)."""
        self.in_memory = data_dir is None
        if data_dir is not None and "log.dirs" not in config.static and "log.dir" not in config.static:
            config.static["log.dirs"] = str(data_dir)  # given as --data-dir: what Kafka would show as log.dirs
        self.metadata = MetadataStore(data_dir, self.node_id, config["cluster.id"])
        # dynamic broker configs (AlterConfigs on the broker) outlive restarts, as in Kafka's metadata log
        config.set_dynamic(False, self.metadata.broker_configs_default)
        config.set_dynamic(True, self.metadata.broker_configs_node)
        warn_no_effect([*config.static, *config.dynamic_default, *config.dynamic_broker,
                        *(k for info in self.metadata.topics.values() if not info.internal for k in info.configs)])
        self.security = BrokerSecurity.from_settings(
            {**config.static, **config.dynamic_default, **config.dynamic_broker}, data_dir=data_dir,
            scram=lambda: self.metadata.scram)
        """Listeners, TLS, SASL and the authorizer (None unless authorizer.class.name is set)."""
        self.logs = LogManager(data_dir, in_memory=data_dir is None)
        self.cluster = None
        """kbroker.cluster.node.ClusterNode when this broker is one of a cluster (set by ClusterNode.open)."""
        self.killed = False
        """Set by fault injection to stop without a clean shutdown (no log close)."""
        self.partitions: dict[tuple[str, int], Partition] = {}
        self.topic_deleted_listeners: list[Callable[[str], None]] = []
        """Called with a topic's name once it is deleted (metrics drop its series)."""
        self._load()
        self.quotas = QuotaManager(self)
        self.cleaner = LogCleaner(
            self.clean_targets,
            backoff_ms=lambda: self.config["log.cleaner.backoff.ms"],
            dedupe_buffer_bytes=lambda: self.config["log.cleaner.dedupe.buffer.size"],
            enabled=lambda: self.config["log.cleaner.enable"],
            io_max_bytes_per_second=lambda: self.config["log.cleaner.io.max.bytes.per.second"],
        )

    def endpoint_for(self, listener: str | None) -> Endpoint:
        """What Metadata and DescribeCluster tell a client that came through `listener` (Kafka answers with
        the endpoints of the client's listener)."""
        return self.listener_endpoints.get(listener, self.advertised) if listener else self.advertised

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
        """Retention, the log cleaner and producer id expiration, for as long as the broker runs; cancelled with it."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._run_producer_expiration)
            tg.start_soon(self._run_flush_scheduler)
            await tg.start(self.cleaner.run)
            task_status.started()
            interval = max(self.config["log.retention.check.interval.ms"], 100) / 1000
            while True:
                await anyio.sleep(interval)
                self.enforce_retention()

    async def _run_producer_expiration(self) -> None:
        """Forget idle producers (producer.id.expiration.ms) every producer.id.expiration.check.interval.ms."""
        interval = max(self.config["producer.id.expiration.check.interval.ms"], 10) / 1000
        while True:
            await anyio.sleep(interval)
            self.expire_producers()

    async def _run_flush_scheduler(self) -> None:
        """flush.ms / log.flush.interval.ms: look for logs with data unflushed too long (the fsyncs themselves
        run on the log manager's flush thread), as often as the smallest such setting asks, at most every 10 ms
        and at least every second."""
        noise = Throttled(log, burst=1, interval=60.0)
        while True:
            try:
                shortest = min([1000, *(p.log.config.flush_ms for p in list(self.partitions.values()))])
            except Exception:  # a partition without a log (being created or removed): look again shortly
                shortest = 1000
            await anyio.sleep(max(10, shortest) / 1000)
            try:
                self.logs.flush_due(now_ms())
            except Exception as exc:  # a bug here must not end flushing for good (nor take the broker down)
                noise.log(logging.ERROR, "flush scheduler: %r; carrying on", exc)

    def expire_producers(self, now: int | None = None) -> int:
        expiration_ms = self.config["producer.id.expiration.ms"]
        now = now_ms() if now is None else now
        removed = 0
        for partition in list(self.partitions.values()):
            try:
                removed += partition.log.remove_expired_producers(now, expiration_ms)
            except Exception:  # one broken log must not stop the others
                log.exception("producer expiration failed for %s-%d", partition.topic, partition.index)
        return removed

    def enforce_retention(self) -> None:
        """One retention pass. As Kafka does, a partition whose newest records are all past retention.ms gets
        its active segment rolled so that it can go too (the log start then meets the log end)."""
        now = now_ms()
        for partition in list(self.partitions.values()):
            plog = partition.log
            try:
                retention_ms = plog.config.retention_ms
                active = plog.active_segment
                if (retention_ms >= 0 and active.size > 0 and plog.high_watermark >= plog.log_end_offset
                        and now - active.largest_timestamp > retention_ms):
                    plog.roll()
                plog.enforce_retention(now)
            except Exception:  # one broken log must not stop retention of the others
                log.exception("retention failed for %s-%d", partition.topic, partition.index)

    def clean_targets(self) -> list[CleanTarget]:
        """The partitions of compacted topics, with their cleaning settings as of now."""
        targets = []
        for (topic, index), partition in list(self.partitions.items()):
            info = self.metadata.topics.get(topic)
            if info is None or not cleanup_policy(info.configs, self.config)[1]:
                continue
            targets.append(CleanTarget(f"{topic}-{index}", partition.log, self.cleaner_config(info),
                                       stable_offset=partition.last_stable_offset))
        return targets

    def cleaner_config(self, info: TopicInfo) -> CleanerConfig:
        def get(key: str):  # type: ignore[no-untyped-def]
            return value_of(key, info.configs, self.config)

        return CleanerConfig(
            delete_retention_ms=int(get("delete.retention.ms")),
            min_compaction_lag_ms=int(get("min.compaction.lag.ms")),
            max_compaction_lag_ms=int(get("max.compaction.lag.ms")),
            min_cleanable_ratio=float(get("min.cleanable.dirty.ratio")),
        )

    def close(self) -> None:
        self.logs.close_all()

    # -- topics

    def log_config_for(self, info: TopicInfo):  # type: ignore[no-untyped-def]
        return log_config(info.configs, self.config)

    def apply_log_config(self, info: TopicInfo) -> None:
        """Give the topic's partition logs its current settings (after a topic or broker config change); the
        logs read them at their next append, roll or retention pass."""
        cfg = self.log_config_for(info)
        for index in range(info.partitions):
            partition = self.partitions.get((info.name, index))
            if partition is not None:
                partition.log.config = cfg

    def alter_topic_configs(self, name: str, configs: dict[str, str | None], *, validate_only: bool) -> None:
        """Replace a topic's configs (AlterConfigs, IncrementalAlterConfigs); INVALID_CONFIG when they do not
        validate, UNKNOWN_TOPIC_OR_PARTITION for no such topic. Applied live."""
        validate_topic_name(name)
        clean = validate_topic_configs(configs, self.config)
        info = self.metadata.topics.get(name)
        if info is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"The topic '{name}' does not exist.")
        try:
            log_config(clean, self.config)
        except ValueError as exc:  # a combination the storage cannot honour
            raise KafkaError(ErrorCode.INVALID_CONFIG, str(exc)) from exc
        if validate_only:
            return
        self.metadata.set_configs(name, clean)
        if self.cluster is not None:
            self.cluster.store_topic_configs(name, clean)
        self.apply_log_config(info)
        log.info("topic %s configs now %s", name, clean or "{}")

    def alter_broker_configs(self, per_broker: bool, configs: dict[str, str], *, validate_only: bool) -> None:
        """Replace one dynamic broker config layer (resource "<node id>" or ""); INVALID_REQUEST (as Kafka, see
        KAFKA-13609) when a key cannot be changed dynamically or a value does not parse. Applied live: every
        topic's logs get the new defaults."""
        from kbroker.config import KAFKA_KEYS, LISTENER_PREFIX_ONLY, check_value

        read_only = sorted(k for k in configs if k in KAFKA_KEYS and not KAFKA_KEYS[k].dynamic)
        if read_only:
            raise KafkaError(ErrorCode.INVALID_REQUEST,
                             f"Cannot update these configs dynamically: Set({', '.join(read_only)})")
        prefixed_only = sorted(k for k in configs if k in LISTENER_PREFIX_ONLY)
        if prefixed_only:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "These security configs can be dynamically updated only "
                             f"per-listener using the listener prefix: Set({', '.join(prefixed_only)})")
        if not per_broker:
            per_broker_only = sorted(k for k in configs if k in KAFKA_KEYS and KAFKA_KEYS[k].mode == "per-broker")
            if per_broker_only:
                raise KafkaError(ErrorCode.INVALID_REQUEST, "Cannot update these configs at default cluster level, "
                                 f"broker id must be specified: Set({', '.join(per_broker_only)})")
        for key, value in configs.items():
            try:
                check_value(key, value)
            except ValueError as exc:
                raise KafkaError(ErrorCode.INVALID_REQUEST, str(exc)) from exc
        self._check_topic_defaults(per_broker, configs)
        if validate_only:
            return
        self.config.set_dynamic(per_broker, configs)
        self.metadata.set_broker_configs(per_broker, configs)
        for info in list(self.metadata.topics.values()):
            self.apply_log_config(info)
        log.info("dynamic %s broker configs now %s", "per-broker" if per_broker else "cluster-default",
                 configs or "{}")

    def _check_topic_defaults(self, per_broker: bool, configs: dict[str, str]) -> None:
        """INVALID_REQUEST when the new layer would give topics a default they cannot take (a broker synonym
        outside its topic key's range, or settings the logs cannot honour)."""
        from kbroker.topic_config import TOPIC_KEYS

        trial = BrokerConfig()
        trial.static = dict(self.config.static)
        trial.set_dynamic(False, self.config.dynamic_layer(False))
        trial.set_dynamic(True, self.config.dynamic_layer(True))
        trial.set_dynamic(per_broker, configs)
        for spec in TOPIC_KEYS.values():
            if not spec.synonyms or not any(name in configs for name, _ in spec.synonyms):
                continue
            value = trial.resolve(list(spec.synonyms))
            if value is None:
                continue
            try:
                spec.parse(value)
            except ValueError as exc:
                raise KafkaError(ErrorCode.INVALID_REQUEST,
                                 f"Invalid value {value} for configuration {spec.synonyms[0][0]}: {exc}") from exc
        for topic_configs in [{}] + [info.configs for info in self.metadata.topics.values()]:
            try:
                log_config(topic_configs, trial)
            except ValueError as exc:
                raise KafkaError(ErrorCode.INVALID_REQUEST, str(exc)) from exc

    def delete_records(self, topic: str, index: int, offset: int) -> int:
        """DeleteRecords: move the partition's log start offset up to offset (-1: the high watermark); the new
        low watermark. OFFSET_OUT_OF_RANGE beyond the high watermark, POLICY_VIOLATION on a compacted-only
        topic (Kafka's rule)."""
        partition = self.partitions.get((topic, index))
        info = self.metadata.topics.get(topic)
        if partition is None or info is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        if not cleanup_policy(info.configs, self.config)[0]:
            raise KafkaError(ErrorCode.POLICY_VIOLATION,
                             f"Records of partition {topic}-{index} can not be deleted due to the configured policy")
        if not partition.leading:
            raise KafkaError(ErrorCode.NOT_LEADER_OR_FOLLOWER)
        plog = partition.log
        if offset == -1:
            offset = plog.high_watermark
        if offset < 0:
            raise KafkaError(ErrorCode.OFFSET_OUT_OF_RANGE,
                             f"Cannot increment the log start offset to {offset} of partition {topic}-{index} "
                             "since it is larger than the high watermark " + str(plog.high_watermark))
        try:
            return plog.delete_records_before(offset)
        except OffsetOutOfRange as exc:
            raise KafkaError(ErrorCode.OFFSET_OUT_OF_RANGE,
                             f"Cannot increment the log start offset to {offset} of partition {topic}-{index} "
                             f"since it is larger than the high watermark {plog.high_watermark}") from exc

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
        if self.cluster is not None:
            self.cluster.check_replication_factor(replication_factor)
        elif replication_factor > 1:
            raise KafkaError(
                ErrorCode.INVALID_REPLICATION_FACTOR,
                f"Unable to replicate the partition {replication_factor} time(s): The target replication factor of "
                f"{replication_factor} cannot be reached because only 1 broker(s) are registered.",
            )
        return num_partitions, replication_factor, validate_topic_configs(configs, self.config)

    def create_topic(self, name: str, num_partitions: int, configs: dict[str, str]) -> TopicInfo:
        info = self.metadata.add_topic(name, num_partitions, configs)
        cfg = self.log_config_for(info)
        for index in range(num_partitions):
            self.partitions[(name, index)] = Partition(name, index, self.logs.create(name, index, cfg))
        log.info("created topic %s with %d partition(s)", name, num_partitions)
        return info

    def ensure_internal_topic(self, name: str, partitions: int, configs: dict[str, str]) -> int:
        """The partition count of a coordinator's compacted internal topic, created on first use."""
        info = self.metadata.topics.get(name)
        if info is None and self.cluster is not None:
            topic_configs = {"cleanup.policy": "compact", **configs}
            if self.cluster.create_topic_now(name, max(1, partitions), 1, topic_configs) is not None:
                return self.metadata.topics[name].partitions  # alone: created at once, as before
            rf_key = ("offsets.topic.replication.factor" if name == "__consumer_offsets"
                      else "transaction.state.log.replication.factor")
            self.cluster.spawn(self.cluster.ensure_internal_topic, name, max(1, partitions),
                               {"cleanup.policy": "compact", **configs}, rf_key)
            raise KafkaError(ErrorCode.COORDINATOR_NOT_AVAILABLE, f"{name} is being created")
        if info is None:
            info = self.create_topic(name, max(1, partitions), {"cleanup.policy": "compact", **configs})
        return info.partitions

    def auto_create_topic(self, name: str) -> TopicInfo:
        partitions, _, configs = self.check_new_topic(name, -1, -1, {})
        return self.create_topic(name, partitions, configs)

    def check_delete_topic(self, name: str) -> TopicInfo:
        if not self.config["delete.topic.enable"]:
            raise KafkaError(ErrorCode.TOPIC_DELETION_DISABLED)
        info = self.metadata.topics.get(name)
        if info is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        if name in INTERNAL_TOPICS:
            raise KafkaError(ErrorCode.INVALID_REQUEST, f"Cannot delete internal topic {name}")
        return info

    def delete_topic(self, name: str) -> TopicInfo:
        info = self.check_delete_topic(name)
        self.metadata.remove_topic(name)
        self.forget_topic(info)
        log.info("deleted topic %s", name)
        return info

    def forget_topic(self, info: TopicInfo) -> None:
        """Drop a deleted topic's partitions and logs on this broker, and tell whoever keeps per-topic state (the
        group coordinator's committed offsets, as Kafka drops them; metrics). Both a lone broker's DeleteTopics and
        a cluster member learning of the deletion come here."""
        for index in range(info.partitions):
            self.partitions.pop((info.name, index), None)
            self.logs.delete(info.name, index)
        from kbroker.coordinator import group_coordinator  # the coordinator depends on the broker, not back

        group_coordinator(self).on_topics_deleted([info.name])
        for listener in list(self.topic_deleted_listeners):
            listener(info.name)

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
