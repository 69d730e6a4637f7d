"""Kafka's ZooKeeper-era znode layout and JSON bodies, in one place.

Every znode the cluster layer reads or writes is named here, with the (de)serialisation of its body, so the
in-process store and a real ZooKeeper hold the same tree a Kafka 3.x broker would write.
"""
from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field

CLUSTER_ID = "/cluster/id"
BROKER_IDS = "/brokers/ids"
BROKER_TOPICS = "/brokers/topics"
CONTROLLER = "/controller"
CONTROLLER_EPOCH = "/controller_epoch"
CONFIG_TOPICS = "/config/topics"
CONFIG_BROKERS = "/config/brokers"
DELETE_TOPICS = "/admin/delete_topics"
PRODUCER_ID_BLOCK = "/latest_producer_id_block"

PERSISTENT_ROOTS = (BROKER_IDS, BROKER_TOPICS, CONFIG_TOPICS, CONFIG_BROKERS, DELETE_TOPICS, "/cluster")


def broker_path(broker_id: int) -> str:
    return f"{BROKER_IDS}/{broker_id}"


def topic_path(topic: str) -> str:
    return f"{BROKER_TOPICS}/{topic}"


def partitions_path(topic: str) -> str:
    return f"{BROKER_TOPICS}/{topic}/partitions"


def partition_path(topic: str, index: int) -> str:
    return f"{BROKER_TOPICS}/{topic}/partitions/{index}"


def state_path(topic: str, index: int) -> str:
    return f"{BROKER_TOPICS}/{topic}/partitions/{index}/state"


def topic_config_path(topic: str) -> str:
    return f"{CONFIG_TOPICS}/{topic}"


def _dump(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def _load(data: bytes) -> dict:
    return json.loads(data.decode()) if data else {}


@dataclass(frozen=True)
class BrokerInfo:
    """/brokers/ids/<id>: where a live broker listens, and its rack. epoch = the znode's czxid."""
    broker_id: int
    host: str
    port: int
    rack: str | None = None
    epoch: int = -1

    def encode(self) -> bytes:
        endpoint = f"PLAINTEXT://{self.host}:{self.port}"
        return _dump({"version": 5, "host": self.host, "port": self.port, "endpoints": [endpoint],
                      "listener_security_protocol_map": {"PLAINTEXT": "PLAINTEXT"}, "jmx_port": -1,
                      "rack": self.rack, "timestamp": str(int(time.time() * 1000)), "features": {}})

    @classmethod
    def decode(cls, broker_id: int, data: bytes, epoch: int) -> "BrokerInfo":
        obj = _load(data)
        host, port = obj.get("host"), obj.get("port")
        for endpoint in obj.get("endpoints") or []:  # PLAINTEXT://host:port
            address = endpoint.split("://", 1)[-1]
            h, _, p = address.rpartition(":")
            host, port = h.strip("[]"), int(p)
            break
        return cls(broker_id, str(host), int(port), obj.get("rack"), epoch)


@dataclass(frozen=True)
class TopicAssignment:
    """/brokers/topics/<topic>: partition -> replicas (the first is the preferred leader), and the topic id.
    During a reassignment a partition's replicas are the target and the original together, with
    `adding` (target - original) and `removing` (original - target), as Kafka's topic znode v3 keeps them."""
    name: str
    topic_id: bytes
    replicas: dict[int, list[int]] = field(default_factory=dict)
    adding: dict[int, list[int]] = field(default_factory=dict)
    removing: dict[int, list[int]] = field(default_factory=dict)

    def target(self, index: int) -> list[int]:
        removing = self.removing.get(index, [])
        return [b for b in self.replicas.get(index, []) if b not in removing]

    def original(self, index: int) -> list[int]:
        adding = self.adding.get(index, [])
        return [b for b in self.replicas.get(index, []) if b not in adding]

    def reassigning(self, index: int) -> bool:
        return bool(self.adding.get(index) or self.removing.get(index))

    def encode(self) -> bytes:
        tid = base64.urlsafe_b64encode(self.topic_id).decode().rstrip("=")
        return _dump({"version": 3, "topic_id": tid, "partitions": {str(p): r for p, r in self.replicas.items()},
                      "adding_replicas": {str(p): r for p, r in self.adding.items() if r},
                      "removing_replicas": {str(p): r for p, r in self.removing.items() if r}})

    @classmethod
    def decode(cls, name: str, data: bytes) -> "TopicAssignment":
        obj = _load(data)
        tid = obj.get("topic_id") or ""
        topic_id = base64.urlsafe_b64decode(tid + "=" * (-len(tid) % 4)) if tid else bytes(16)

        def table(key: str) -> dict[int, list[int]]:
            return {int(p): [int(b) for b in r] for p, r in (obj.get(key) or {}).items()}
        return cls(name, topic_id, dict(sorted(table("partitions").items())), table("adding_replicas"),
                   table("removing_replicas"))


@dataclass(frozen=True)
class PartitionState:
    """/brokers/topics/<t>/partitions/<p>/state. version = the znode version (the partition epoch)."""
    leader: int
    leader_epoch: int
    isr: tuple[int, ...]
    controller_epoch: int
    version: int = -1

    def encode(self) -> bytes:
        return _dump({"version": 1, "leader": self.leader, "leader_epoch": self.leader_epoch,
                      "isr": list(self.isr), "controller_epoch": self.controller_epoch})

    @classmethod
    def decode(cls, data: bytes, version: int) -> "PartitionState":
        obj = _load(data)
        return cls(int(obj["leader"]), int(obj["leader_epoch"]), tuple(int(b) for b in obj["isr"]),
                   int(obj.get("controller_epoch", 0)), version)


def encode_controller(broker_id: int) -> bytes:
    return _dump({"version": 2, "brokerid": broker_id, "timestamp": str(int(time.time() * 1000)),
                  "kraftControllerEpoch": -1})


def decode_controller(data: bytes) -> int:
    return int(_load(data).get("brokerid", -1))


def encode_config(configs: dict[str, str]) -> bytes:
    return _dump({"version": 1, "config": configs})


def decode_config(data: bytes) -> dict[str, str]:
    return {str(k): str(v) for k, v in (_load(data).get("config") or {}).items()}


def encode_producer_block(broker_id: int, start: int, end: int) -> bytes:
    return _dump({"version": 1, "broker": broker_id, "block_start": str(start), "block_end": str(end)})


def decode_producer_block(data: bytes) -> int:
    """The end (inclusive) of the last block handed out, -1 when none was."""
    return int(_load(data).get("block_end", -1)) if data else -1
