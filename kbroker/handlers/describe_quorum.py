"""DescribeQuorum (55), v0–2: the metadata quorum behind this broker, as `kafka-metadata-quorum describe` asks.

kbroker keeps its cluster metadata itself, so it answers as a KRaft cluster whose single voter, and leader, is
the broker answering (node id, advertised endpoint), with the metadata topic `__cluster_metadata` partition 0.
Any other topic or partition is UNKNOWN_TOPIC_OR_PARTITION, as Kafka's controller answers.
"""
from __future__ import annotations

import time

from kbroker.server.context import RequestContext
from wire.errors import ErrorCode

KEY, MIN, MAX = 55, 0, 2

METADATA_TOPIC = "__cluster_metadata"


async def handle(ctx: RequestContext, request: dict) -> dict:
    broker = ctx.broker
    now = int(time.time() * 1000)
    high_watermark = len(broker.metadata.topics)  # a stand-in: kbroker has no metadata log offsets
    voter = {"replica_id": broker.node_id, "replica_directory_id": bytes(16), "log_end_offset": high_watermark,
             "last_fetch_timestamp": now, "last_caught_up_timestamp": now}
    topics = []
    for topic in request["topics"]:
        parts = []
        for p in topic["partitions"]:
            if topic["topic_name"] != METADATA_TOPIC or p["partition_index"] != 0:
                parts.append({"partition_index": p["partition_index"],
                              "error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                              "error_message": "Not the metadata partition", "leader_id": -1, "leader_epoch": -1,
                              "high_watermark": -1, "current_voters": [], "observers": []})
                continue
            parts.append({"partition_index": 0, "error_code": 0, "leader_id": broker.node_id, "leader_epoch": 1,
                          "high_watermark": high_watermark, "current_voters": [voter], "observers": []})
        topics.append({"topic_name": topic["topic_name"], "partitions": parts})
    nodes = [{"node_id": broker.node_id, "listeners": [
        {"name": "CONTROLLER", "host": broker.advertised.host, "port": broker.advertised.port}]}]
    return {"error_code": 0, "topics": topics, "nodes": nodes}
