"""Topics, their partitions and configs, and the cluster's identity: the broker's view of the cluster.

Kept in `topics.json` and `meta.properties` in the data directory (replaced atomically on each change), or only
in memory. Beside the topics, `topics.json` holds what Kafka keeps in its metadata log for the cluster: dynamic
broker configs (cluster default and per broker), client quotas and SCRAM credentials. The partition logs
themselves belong to kbroker.log.
"""
from __future__ import annotations

import base64
import json
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from wire.errors import ErrorCode, KafkaError

MAX_TOPIC_NAME = 249
_LEGAL = re.compile(r"^[a-zA-Z0-9._-]+$")
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state", "__share_group_state"})


def validate_topic_name(name: str | None) -> None:
    if not name:
        raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, "Topic name is illegal, it can't be empty")
    if name in (".", ".."):
        raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, "Topic name cannot be \".\" or \"..\"")
    if len(name) > MAX_TOPIC_NAME:
        raise KafkaError(
            ErrorCode.INVALID_TOPIC_EXCEPTION,
            f"Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME} characters, topic name: {name}",
        )
    if not _LEGAL.match(name):
        raise KafkaError(
            ErrorCode.INVALID_TOPIC_EXCEPTION,
            f"Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'",
        )


def new_cluster_id() -> str:
    """Kafka's form: a random UUID as 22 characters of URL-safe base64."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


@dataclass
class TopicInfo:
    name: str
    topic_id: bytes
    partitions: int
    configs: dict[str, str] = field(default_factory=dict)

    @property
    def internal(self) -> bool:
        return self.name in INTERNAL_TOPICS

    def to_json(self) -> dict:
        return {"name": self.name, "id": self.topic_id.hex(), "partitions": self.partitions, "configs": self.configs}

    @classmethod
    def from_json(cls, obj: dict) -> "TopicInfo":
        return cls(obj["name"], bytes.fromhex(obj["id"]), int(obj["partitions"]), dict(obj.get("configs") or {}))


class MetadataStore:
    def __init__(self, data_dir: Path | None, node_id: int, cluster_id: str = "") -> None:
        self.data_dir = data_dir
        self.topics: dict[str, TopicInfo] = {}
        self.by_id: dict[bytes, TopicInfo] = {}
        self.cluster_id = cluster_id or new_cluster_id()
        self.node_id = node_id
        # producer ids are handed out from a block whose end is stored, so none is reused after a restart
        self.next_producer_id = 0
        self.producer_id_block_end = 0
        # dynamic broker configs: resource "" (cluster-wide default) and resource "<node id>"
        self.broker_configs_default: dict[str, str] = {}
        self.broker_configs_node: dict[str, str] = {}
        # client quotas: entity (sorted (type, name) pairs) -> {quota key: value}
        self.client_quotas: dict[tuple[tuple[str, str | None], ...], dict[str, float]] = {}
        # SCRAM credentials: user -> mechanism id -> {"iterations", "salt", "salted_password"} (hex strings)
        self.scram: dict[str, dict[int, dict]] = {}
        # group configs (GROUP resources): group id -> {key: value}
        self.group_configs: dict[str, dict[str, str]] = {}
        # finalized feature levels set with UpdateFeatures (kbroker.features), and "_epoch"
        self.features: dict[str, int] = {}
        # client-metrics subscriptions (KIP-714, CLIENT_METRICS resources): name -> {key: value}
        self.client_metrics: dict[str, dict[str, str]] = {}
        # share groups' ids (kbroker.coordinator.share), so that an empty one outlives a restart
        self.share_groups: list[str] = []
        # in a cluster, producer ids come from the cluster's blocks (kbroker.cluster.node) instead
        self.producer_ids: Callable[[], int] | None = None
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
            self._load_identity(cluster_id)
            self._load_topics()

    # -- persistence

    def _load_identity(self, wanted_cluster_id: str) -> None:
        path = self.data_dir / "meta.properties"  # type: ignore[operator]
        if path.exists():
            props = dict(
                line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#")
            )
            stored = props.get("cluster.id", "")
            if wanted_cluster_id and stored and stored != wanted_cluster_id:
                raise RuntimeError(f"data directory belongs to cluster {stored}, not {wanted_cluster_id}")
            self.cluster_id = stored or self.cluster_id
            return
        _atomic_write(path, f"version=1\ncluster.id={self.cluster_id}\nnode.id={self.node_id}\n")

    def _load_topics(self) -> None:
        path = self.data_dir / "topics.json"  # type: ignore[operator]
        if not path.exists():
            return
        stored = json.loads(path.read_text())
        self.next_producer_id = self.producer_id_block_end = int(stored.get("producer_id_block_end", 0))
        broker_configs = stored.get("broker_configs") or {}
        self.broker_configs_default = dict(broker_configs.get("default") or {})
        self.broker_configs_node = dict(broker_configs.get("node") or {})
        for entry in stored.get("client_quotas") or []:
            entity = tuple((str(t), n) for t, n in entry["entity"])
            self.client_quotas[entity] = {str(k): float(v) for k, v in entry["values"].items()}
        for user, mechanisms in (stored.get("scram") or {}).items():
            self.scram[user] = {int(m): dict(c) for m, c in mechanisms.items()}
        self.group_configs = {g: dict(c) for g, c in (stored.get("group_configs") or {}).items()}
        self.features = {str(k): int(v) for k, v in (stored.get("features") or {}).items()}
        self.client_metrics = {n: dict(c) for n, c in (stored.get("client_metrics") or {}).items()}
        self.share_groups = [str(g) for g in stored.get("share_groups") or []]
        for obj in stored.get("topics", []):
            info = TopicInfo.from_json(obj)
            self.topics[info.name] = info
            self.by_id[info.topic_id] = info

    def save(self) -> None:
        if self.data_dir is None:
            return
        body = json.dumps({"producer_id_block_end": self.producer_id_block_end,
                           "topics": [t.to_json() for t in self.topics.values()],
                           "broker_configs": {"default": self.broker_configs_default,
                                              "node": self.broker_configs_node},
                           "client_quotas": [{"entity": [list(pair) for pair in entity], "values": values}
                                             for entity, values in self.client_quotas.items()],
                           "scram": {user: {str(m): c for m, c in mechs.items()} for user, mechs in self.scram.items()},
                           "group_configs": self.group_configs,
                           "features": self.features,
                           "client_metrics": self.client_metrics,
                           "share_groups": self.share_groups,
                           }, indent=1)
        _atomic_write(self.data_dir / "topics.json", body)

    # -- changes

    def allocate_producer_id(self, block: int = 1000) -> int:
        if self.producer_ids is not None:
            return self.producer_ids()
        if self.next_producer_id >= self.producer_id_block_end:
            self.producer_id_block_end = self.next_producer_id + block
            self.save()
        pid = self.next_producer_id
        self.next_producer_id += 1
        return pid

    def add_topic(self, name: str, partitions: int, configs: dict[str, str]) -> TopicInfo:
        info = TopicInfo(name, uuid.uuid4().bytes, partitions, dict(configs))
        self.topics[name] = info
        self.by_id[info.topic_id] = info
        self.save()
        return info

    def remove_topic(self, name: str) -> TopicInfo:
        info = self.topics.pop(name)
        self.by_id.pop(info.topic_id, None)
        self.save()
        return info

    def set_partitions(self, name: str, count: int) -> None:
        self.topics[name].partitions = count
        self.save()

    def set_configs(self, name: str, configs: dict[str, str]) -> None:
        self.topics[name].configs = dict(configs)
        self.save()

    def set_broker_configs(self, per_broker: bool, configs: dict[str, str]) -> None:
        if per_broker:
            self.broker_configs_node = dict(configs)
        else:
            self.broker_configs_default = dict(configs)
        self.save()

    def set_client_quotas(self, quotas: dict[tuple[tuple[str, str | None], ...], dict[str, float]]) -> None:
        self.client_quotas = {entity: dict(values) for entity, values in quotas.items() if values}
        self.save()

    def set_scram(self, credentials: dict[str, dict[int, dict]]) -> None:
        self.scram = {user: dict(mechs) for user, mechs in credentials.items() if mechs}
        self.save()


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
