"""Replica assignment at topic creation, in the shape Kafka's AdminUtils gives it.

Rack-unaware: the first replica of partition p is broker (start + p) mod n and the others follow it at a shift
that grows every n partitions, so leaders and followers spread evenly. Rack-aware (every broker has a rack):
the brokers are first listed alternating racks, and each partition's further replicas skip racks (and brokers)
it already has while any remain, so a partition's replicas land on as many racks as possible.
"""
from __future__ import annotations

import random

from wire.errors import ErrorCode, KafkaError


def _replica_index(first: int, shift: int, j: int, n: int) -> int:
    return (first + 1 + (shift + j) % (n - 1)) % n


def _rack_alternated(racks: dict[int, str]) -> list[int]:
    by_rack: dict[str, list[int]] = {}
    for broker in sorted(racks):
        by_rack.setdefault(racks[broker], []).append(broker)
    names = sorted(by_rack)
    out: list[int] = []
    depth = 0
    while len(out) < len(racks):
        for name in names:
            if depth < len(by_rack[name]):
                out.append(by_rack[name][depth])
        depth += 1
    return out


def assign_replicas(brokers: dict[int, str | None], partitions: int, replication_factor: int, *,
                    first_partition: int = 0, start: int | None = None, shift: int | None = None,
                    ) -> dict[int, list[int]]:
    """partition -> replicas for partitions [first_partition, first_partition + partitions).
    INVALID_REPLICATION_FACTOR (Kafka's message) when there are fewer brokers than replicas."""
    n = len(brokers)
    if replication_factor > n:
        raise KafkaError(ErrorCode.INVALID_REPLICATION_FACTOR,
                         f"Unable to replicate the partition {replication_factor} time(s): The target replication "
                         f"factor of {replication_factor} cannot be reached because only {n} broker(s) are "
                         "registered.")
    rng = random.Random()
    start = rng.randrange(n) if start is None else start
    shift = rng.randrange(n) if shift is None else shift
    rack_aware = n > 0 and all(r for r in brokers.values())
    ordered = _rack_alternated({b: r for b, r in brokers.items() if r}) if rack_aware else sorted(brokers)
    racks = len({r for r in brokers.values()}) if rack_aware else 0
    result: dict[int, list[int]] = {}
    for i in range(partitions):
        p = first_partition + i
        if p > 0 and p % n == 0:
            shift += 1
        first = (p + start) % n
        replicas = [ordered[first]]
        if not rack_aware:
            replicas += [ordered[_replica_index(first, shift, j, n)] for j in range(replication_factor - 1)]
        else:
            used_racks = {brokers[ordered[first]]}
            k = 0
            while len(replicas) < replication_factor:
                candidate = ordered[_replica_index(first, shift, k, n)]
                k += 1
                rack = brokers[candidate]
                if candidate in replicas:
                    if k > 2 * n:  # every broker tried: allow anything not yet used
                        candidate = next(b for b in ordered if b not in replicas)
                    else:
                        continue
                elif rack in used_racks and len(used_racks) < racks and k <= 2 * n:
                    continue
                replicas.append(candidate)
                used_racks.add(rack)
                if len(used_racks) == racks:
                    used_racks = set()
        result[p] = replicas
    return result
