"""Small helpers the handlers share: error codes and messages from exceptions, topic/partition walks."""
from __future__ import annotations

from wire.errors import ErrorCode, KafkaError

# authorized operations (bit sets of Kafka's AclOperation codes) as Kafka reports them with no authorizer
NOT_REQUESTED = -2147483648  # the field's value when the request did not ask for it
# topic: READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS
TOPIC_OPERATIONS = sum(1 << op for op in (3, 4, 5, 6, 7, 8, 10, 11))
# cluster: CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE
CLUSTER_OPERATIONS = sum(1 << op for op in (5, 7, 8, 9, 10, 11, 12))
# group: READ, DELETE, DESCRIBE
GROUP_OPERATIONS = sum(1 << op for op in (3, 6, 8))


def consumer_protocol_enabled(broker) -> bool:  # type: ignore[no-untyped-def]
    """group.coordinator.rebalance.protocols lists `consumer` (Kafka's isConsumerGroupProtocolEnabled): without
    it the KIP-848 APIs stay advertised, as in Kafka, but answer UNSUPPORTED_VERSION."""
    protocols = broker.config.get("group.coordinator.rebalance.protocols") or []
    return "consumer" in [p.strip().lower() for p in protocols]


def error_of(exc: BaseException) -> tuple[int, str | None]:
    if isinstance(exc, KafkaError):
        return int(exc.code), exc.message
    return int(ErrorCode.UNKNOWN_SERVER_ERROR), str(exc)


OffsetEntry = tuple[str, int, int, int, "str | None"]  # topic, partition, offset, leader epoch, metadata


def offsets_to_commit(  # type: ignore[no-untyped-def]
    broker, topics: list, *, with_epoch: bool
) -> tuple[dict[tuple[str, int], int], list[OffsetEntry]]:
    """An offset commit's partitions split into unknown ones (UNKNOWN_TOPIC_OR_PARTITION) and entries to commit."""
    errors: dict[tuple[str, int], int] = {}
    valid: list[OffsetEntry] = []
    for topic in topics:
        info = broker.topic(topic["name"])
        for p in topic["partitions"]:
            if info is None or not 0 <= p["partition_index"] < info.partitions:
                errors[(topic["name"], p["partition_index"])] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                continue
            epoch = p.get("committed_leader_epoch", -1) if with_epoch else -1
            valid.append((topic["name"], p["partition_index"], p["committed_offset"], epoch, p.get("committed_metadata")))
    return errors, valid
