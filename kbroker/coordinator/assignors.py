"""Server-side assignors of KIP-848 consumer groups: "uniform" (the default) and "range".

Both take the members' subscriptions and the subscribed topics' partition counts, and return each member's target
assignment as {topic id: set of partitions}.

- uniform: every partition to some member subscribed to its topic, with member loads as even as the subscriptions
  allow; sticky: a partition stays with the member that had it in the previous target while that member is under
  its share. (Kafka's UniformAssignor behaves so; this is a simpler greedy construction of the same goals.)
- range: per topic, the subscribed members in member id order each get a contiguous range, the first
  `partitions % members` one partition more, so that co-partitioned topics line up.
"""
from __future__ import annotations

from typing import Mapping

Assignment = dict[bytes, set[int]]


class AssignorError(Exception):
    pass


def _subscribers(members: Mapping[str, set[bytes]], topics: Mapping[bytes, int]) -> dict[bytes, list[str]]:
    out: dict[bytes, list[str]] = {tid: [] for tid in topics}
    for member_id in sorted(members):
        for tid in members[member_id]:
            if tid in out:
                out[tid].append(member_id)
    return out


def range_assign(members: Mapping[str, set[bytes]], topics: Mapping[bytes, int],
                 previous: Mapping[str, Assignment] | None = None) -> dict[str, Assignment]:
    result: dict[str, Assignment] = {m: {} for m in members}
    for tid, subscribers in _subscribers(members, topics).items():
        if not subscribers:
            continue
        count = topics[tid]
        per, extra = divmod(count, len(subscribers))
        start = 0
        for i, member_id in enumerate(subscribers):
            n = per + (1 if i < extra else 0)
            if n:
                result[member_id][tid] = set(range(start, start + n))
            start += n
    return result


def uniform_assign(members: Mapping[str, set[bytes]], topics: Mapping[bytes, int],
                   previous: Mapping[str, Assignment] | None = None) -> dict[str, Assignment]:
    previous = previous or {}
    subscribers = _subscribers(members, topics)
    result: dict[str, Assignment] = {m: {} for m in members}
    load = {m: 0 for m in members}
    partitions = [(tid, p) for tid in sorted(topics) for p in range(topics[tid]) if subscribers[tid]]
    if not members or not partitions:
        return result
    # the fair share of a member: what it would get if everything it can take were spread evenly
    eligible_total = {m: sum(topics[t] for t in members[m] if t in topics) for m in members}
    homogeneous = len({frozenset(t for t in members[m] if t in topics) for m in members}) == 1
    if homogeneous:
        quota_floor, quota_extra = divmod(len(partitions), len(members))
        ceiling = {m: quota_floor + (1 if quota_extra else 0) for m in members}
    else:
        ceiling = {m: eligible_total[m] for m in members}
    unassigned: list[tuple[bytes, int]] = []
    taken: set[tuple[bytes, int]] = set()
    # 1. stickiness: keep what the previous target gave, up to the member's ceiling (most loaded members first
    #    give up their excess, so sort by previous size)
    owners: dict[tuple[bytes, int], str] = {}
    for member_id in sorted(members, key=lambda m: sum(len(v) for v in previous.get(m, {}).values())):
        for tid, parts in previous.get(member_id, {}).items():
            if tid not in members[member_id] or tid not in topics:
                continue
            for p in sorted(parts):
                if p < topics[tid] and (tid, p) not in owners:
                    owners[(tid, p)] = member_id
    if homogeneous:
        exact = len(partitions) // len(members)
        with_extra = len(partitions) % len(members)
    for tp in partitions:
        owner = owners.get(tp)
        if owner is not None and load[owner] < ceiling[owner]:
            if homogeneous and load[owner] == exact:
                if with_extra == 0:
                    unassigned.append(tp)
                    continue
                with_extra -= 1
            result[owner].setdefault(tp[0], set()).add(tp[1])
            load[owner] += 1
            taken.add(tp)
        else:
            unassigned.append(tp)
    # 2. the rest to the least loaded subscribed member (ties: member id)
    for tid, p in unassigned:
        candidates = subscribers[tid]
        best = min(candidates, key=lambda m: (load[m], m))
        result[best].setdefault(tid, set()).add(p)
        load[best] += 1
    # 3. heterogeneous subscriptions: move partitions from the most to the least loaded member while it helps
    if not homogeneous:
        _rebalance(result, load, members, topics)
    return result


def _rebalance(result: dict[str, Assignment], load: dict[str, int], members: Mapping[str, set[bytes]],
               topics: Mapping[bytes, int]) -> None:
    for _ in range(sum(topics.values())):
        moved = False
        for giver in sorted(load, key=lambda m: (-load[m], m)):
            for tid in sorted(result[giver]):
                receivers = [m for m in members if tid in members[m] and load[m] + 1 < load[giver]]
                if not receivers or not result[giver][tid]:
                    continue
                taker = min(receivers, key=lambda m: (load[m], m))
                p = max(result[giver][tid])
                result[giver][tid].discard(p)
                if not result[giver][tid]:
                    del result[giver][tid]
                result[taker].setdefault(tid, set()).add(p)
                load[giver] -= 1
                load[taker] += 1
                moved = True
                break
            if moved:
                break
        if not moved:
            return


ASSIGNORS = {"uniform": uniform_assign, "range": range_assign}
