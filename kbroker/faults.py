"""Fault injection for tests: what franz-go's kfake `Control` gives Go users, for every client.

A `Faults` object lives on each broker (`broker.faults`); dispatch consults it for every request once the
request is decoded, so each injected fault reaches the client exactly as a real broker fault would:

- **error** — the next N requests of an API are answered with an error code and *not applied*. With a topic
  (and partition) the error goes into that topic's (partition's) entry of the response, the other partitions of
  the same request are served normally, as a real broker answers a request that is half on a moved leader.
- **delay** — the response (or, `before=True`, the handling) is held back for some milliseconds.
- **drop** — the connection is closed after the request is applied but before it is answered (or, with
  `after_apply=False`, before it is applied): the client sees a broken connection and retries.
- **throttle** — the response carries throttle_time_ms and the connection is muted that long afterwards (the
  KIP-219 behaviour of a broker enforcing a quota).
- **expire_member** — the group coordinator drops a member as if its session had timed out: the group rebalances.

Faults are owned by the broker's event loop: dispatch, the control endpoint (kbroker.control) and the pytest
plugin (through its thread portal) all call in on that loop, so no lock is needed. All state is in memory and
goes with the broker.
"""
from __future__ import annotations

import functools
import itertools
import logging
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Awaitable, Callable

import anyio

from wire.codec import response_codec
from wire.errors import ErrorCode
from wire.schema import APIS

log = logging.getLogger(__name__)

KINDS = ("error", "delay", "drop", "throttle")
NO_UUID = bytes(16)


# ---------------------------------------------------------------------------------------------------------------
# naming: APIs and error codes by number or by name


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


@functools.cache
def _api_by_name() -> dict[str, int]:
    """Every API by normalised name (loads every schema: built on the first fault named by API name)."""
    return {_norm(api.name): key for key, api in APIS.items()}


def api_key(api: int | str) -> int:
    """An API key from its number or its name, in any case or spelling: 0, "Produce", "offset_commit"."""
    if isinstance(api, int) or (isinstance(api, str) and api.strip().lstrip("-").isdigit()):
        key = int(api)
        if key not in APIS:
            raise ValueError(f"unknown API key {key}")
        return key
    key = _api_by_name().get(_norm(str(api)))
    if key is None:
        raise ValueError(f"unknown API {api!r}")
    return key


def api_name(key: int) -> str:
    return APIS[key].name if key in APIS else str(key)


def error_code(error: int | str) -> int:
    """A Kafka error code from its number or name: 6, "NOT_LEADER_OR_FOLLOWER", "not_leader_or_follower"."""
    if isinstance(error, int) or (isinstance(error, str) and error.strip().lstrip("-").isdigit()):
        return int(ErrorCode(int(error)))
    name = str(error).strip().upper().replace("-", "_").replace(" ", "_")
    try:
        return int(ErrorCode[name])
    except KeyError:
        raise ValueError(f"unknown error code {error!r}") from None


# ---------------------------------------------------------------------------------------------------------------
# where an API carries topics and partitions, and how its error entries look


@dataclass(frozen=True)
class Shape:
    """How a request's topics/partitions map to its response's.

    `req_index`/`resp_index` None: the partitions are a plain list of ints (or, with `req_parts` None, the API
    is per topic: the error goes into the topic entry).
    """

    req_topics: str
    req_name: str
    req_parts: str | None
    req_index: str | None
    resp_topics: str
    resp_name: str
    resp_parts: str | None
    resp_index: str | None
    error_field: str = "error_code"
    extras: tuple[tuple[str, Any], ...] = ()
    request_tweaks: tuple[tuple[str, Any], ...] = ()


_PRODUCE = Shape("topic_data", "name", "partition_data", "index", "responses", "name", "partition_responses", "index",
                 extras=(("base_offset", -1), ("log_append_time_ms", -1), ("log_start_offset", -1)))
# a partition in error makes a real broker answer a Fetch at once (ReplicaManager: errorReadingData)
_FETCH = Shape("topics", "topic", "partitions", "partition", "responses", "topic", "partitions", "partition_index",
               extras=(("high_watermark", -1), ("last_stable_offset", -1), ("log_start_offset", -1),
                       ("preferred_read_replica", -1)),
               request_tweaks=(("max_wait_ms", 0),))
_LIST_OFFSETS = Shape("topics", "name", "partitions", "partition_index", "topics", "name", "partitions",
                      "partition_index", extras=(("timestamp", -1), ("offset", -1), ("leader_epoch", -1)))
_COMMIT = Shape("topics", "name", "partitions", "partition_index", "topics", "name", "partitions", "partition_index")
_OFFSET_FETCH = Shape("topics", "name", "partition_indexes", None, "topics", "name", "partitions", "partition_index",
                      extras=(("committed_offset", -1), ("committed_leader_epoch", -1), ("metadata", "")))
_DELETE_RECORDS = Shape("topics", "name", "partitions", "partition_index", "topics", "name", "partitions",
                        "partition_index", extras=(("low_watermark", -1),))
_EPOCHS = Shape("topics", "topic", "partitions", "partition", "topics", "topic", "partitions", "partition",
                extras=(("leader_epoch", -1), ("end_offset", -1)))
_ADD_PARTITIONS_V3 = Shape("v3_and_below_topics", "name", "partitions", None, "results_by_topic_v3_and_below", "name",
                           "results_by_partition", "partition_index", error_field="partition_error_code")
_CREATE_TOPICS = Shape("topics", "name", None, None, "topics", "name", None, None,
                       extras=(("num_partitions", -1), ("replication_factor", -1)))
_DELETE_TOPICS_OLD = Shape("topic_names", "", None, None, "responses", "name", None, None)
_DELETE_TOPICS = Shape("topics", "name", None, None, "responses", "name", None, None)
_CREATE_PARTITIONS = Shape("topics", "name", None, None, "results", "name", None, None)
_DESCRIBE_PRODUCERS = Shape("topics", "name", "partition_indexes", None, "topics", "name", "partitions",
                            "partition_index")


def shape_of(key: int, version: int) -> Shape | None:
    """The topic/partition shape of an API at a version, None for APIs that carry no topics."""
    if key == 0:
        return _PRODUCE
    if key == 1:
        return _FETCH
    if key == 2:
        return _LIST_OFFSETS
    if key in (8, 28):  # OffsetCommit, TxnOffsetCommit
        return _COMMIT
    if key == 9 and version <= 1:  # OffsetFetch v0-1 report group errors per partition
        return _OFFSET_FETCH
    if key == 21:
        return _DELETE_RECORDS
    if key == 23:
        return _EPOCHS
    if key == 24 and version <= 3:
        return _ADD_PARTITIONS_V3
    if key == 19:
        return _CREATE_TOPICS
    if key == 20:
        return _DELETE_TOPICS if version >= 6 else _DELETE_TOPICS_OLD
    if key == 37:
        return _CREATE_PARTITIONS
    if key == 61:
        return _DESCRIBE_PRODUCERS
    return None


# Keyed APIs: the error goes into one entry per key the request names (a group, a coordinator key).
# key -> (min version, request list field, request item key or None for a list of strings, response array, response key)
_KEYED: dict[int, tuple[int, str, str | None, str, str]] = {
    10: (4, "coordinator_keys", None, "coordinators", "key"),  # FindCoordinator v4+
    15: (0, "groups", None, "groups", "group_id"),  # DescribeGroups
    42: (0, "groups_names", None, "results", "group_id"),  # DeleteGroups
    9: (8, "groups", "group_id", "groups", "group_id"),  # OffsetFetch v8+
    65: (0, "transactional_ids", None, "transaction_states", "transactional_id"),  # DescribeTransactions
    69: (0, "group_ids", None, "groups", "group_id"),  # ConsumerGroupDescribe
    75: (0, "topics", "name", "topics", "name"),  # DescribeTopicPartitions
}
# Config APIs: one error entry per resource (type and name), in this response array
_RESOURCES: dict[int, str] = {32: "results", 33: "responses", 44: "responses"}
_KEYED_EXTRAS: dict[int, dict[str, Any]] = {10: {"node_id": -1, "host": "", "port": -1}}
# fields a real broker sets beside a top-level error code
_TOP_EXTRAS: dict[int, dict[str, Any]] = {
    10: {"node_id": -1, "host": "", "port": -1},
    11: {"generation_id": -1},
    22: {"producer_id": -1, "producer_epoch": -1},
    26: {"producer_id": -1, "producer_epoch": -1},
    68: {"member_epoch": -1},
}


@functools.lru_cache(maxsize=None)
def _top_fields(key: int, version: int) -> frozenset[str]:
    """The top-level fields a response of this version carries."""
    kstruct = response_codec(key, version).interpreted
    return frozenset(m.name for m in kstruct.regular) | frozenset(m.name for m in kstruct.tagged.values())


def can_target_topics(key: int) -> bool:
    """Whether an API carries topics, so that a fault can be limited to one topic (or partition)."""
    return any(shape_of(key, v) is not None for v in range(APIS[key].valid[0], APIS[key].valid[1] + 1)) or key == 3


# ---------------------------------------------------------------------------------------------------------------
# the faults


@dataclass
class Fault:
    id: int
    kind: str
    api_key: int
    count: int | None
    """Requests still to hit; None: every matching request until removed."""
    error_code: int = 0
    topic: str | None = None
    partition: int | None = None
    delay_ms: int = 0
    throttle_ms: int = 0
    before: bool = False
    """delay: hold back the handling rather than the response. drop: close before the request is applied."""
    hits: int = 0

    def to_json(self) -> dict:
        out = asdict(self)
        out["api"] = api_name(self.api_key)
        if self.kind == "error":
            out["error"] = ErrorCode(self.error_code).name
        return out

    def matches_partition(self, topic: str | None, partition: int | None) -> bool:
        if self.topic is not None and topic != self.topic:
            return False
        return self.partition is None or partition is None or partition == self.partition


@dataclass
class Plan:
    """The faults one request meets."""

    errors: list[Fault] = field(default_factory=list)
    delay: Fault | None = None
    drop: Fault | None = None
    throttle: Fault | None = None

    def __bool__(self) -> bool:
        return bool(self.errors or self.delay or self.drop or self.throttle)


class Faults:
    """The faults armed on one broker; methods are called on the broker's event loop."""

    def __init__(self, broker: Any = None) -> None:
        self.broker = broker
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self.injected: dict[tuple[str, str], int] = {}
        """(kind, API name) -> times a fault was applied (metrics read it)."""

    @property
    def active(self) -> bool:
        return bool(self._faults)

    # -- arming

    def add(
        self,
        kind: str,
        api: int | str,
        *,
        count: int | None = 1,
        error: int | str | None = None,
        topic: str | None = None,
        partition: int | None = None,
        delay_ms: int = 0,
        throttle_ms: int = 0,
        before: bool = False,
    ) -> Fault:
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(KINDS)}")
        key = api_key(api)
        if count is not None:
            count = int(count)
            if count < 1:
                raise ValueError("count must be at least 1 (or None: until removed)")
        if partition is not None and topic is None:
            raise ValueError("a partition needs its topic")
        if topic is not None and not can_target_topics(key):
            raise ValueError(f"{api_name(key)} carries no topics: a fault on it cannot name a topic")
        code = 0
        if kind == "error":
            if error is None:
                raise ValueError("an error fault needs an error code")
            code = error_code(error)
        if kind == "delay" and int(delay_ms) <= 0:
            raise ValueError("a delay needs delay_ms > 0")
        if kind == "throttle" and int(throttle_ms) <= 0:
            raise ValueError("a throttle needs throttle_ms > 0")
        fault = Fault(next(self._ids), kind, key, count, code, topic, None if partition is None else int(partition),
                      int(delay_ms), int(throttle_ms), bool(before))
        self._faults.append(fault)
        log.info("fault armed: %s", fault.to_json())
        return fault

    def inject_error(self, api: int | str, error: int | str, *, count: int | None = 1, topic: str | None = None,
                     partition: int | None = None) -> Fault:
        return self.add("error", api, error=error, count=count, topic=topic, partition=partition)

    def delay(self, api: int | str, delay_ms: int, *, count: int | None = 1, before: bool = False,
              topic: str | None = None) -> Fault:
        return self.add("delay", api, delay_ms=delay_ms, count=count, before=before, topic=topic)

    def drop_connection(self, api: int | str, *, count: int | None = 1, after_apply: bool = True,
                        topic: str | None = None) -> Fault:
        return self.add("drop", api, count=count, before=not after_apply, topic=topic)

    def throttle(self, api: int | str, throttle_ms: int, *, count: int | None = 1) -> Fault:
        return self.add("throttle", api, throttle_ms=throttle_ms, count=count)

    def remove(self, fault_id: int) -> bool:
        before = len(self._faults)
        self._faults = [f for f in self._faults if f.id != fault_id]
        return len(self._faults) != before

    def clear(self) -> int:
        n = len(self._faults)
        self._faults = []
        return n

    def list(self) -> list[dict]:
        return [f.to_json() for f in self._faults]

    def get(self, fault_id: int) -> Fault | None:
        return next((f for f in self._faults if f.id == fault_id), None)

    # -- groups

    def expire_member(self, group_id: str, member_id: str | None = None) -> list[str]:
        """Expire one member (or every member) of a group as if its session had timed out; the member ids removed.

        The coordinator then does what a session timeout does: the member is gone (its next heartbeat gets
        UNKNOWN_MEMBER_ID and it joins again) and the others are told to rebalance.
        """
        coordinator = self._coordinator()
        members = self._member_ids(coordinator, group_id) if member_id is None else [member_id]
        expired = [mid for mid in members if coordinator.expire_member(group_id, mid)]
        if member_id is not None and not expired:
            raise KeyError(f"group {group_id} has no member {member_id}")
        k = ("expire_member", "group")
        self.injected[k] = self.injected.get(k, 0) + len(expired)
        return expired

    def members(self, group_id: str) -> list[str]:
        return self._member_ids(self._coordinator(), group_id)

    def _coordinator(self) -> Any:
        if self.broker is None:
            raise RuntimeError("these faults belong to no broker")
        from kbroker.coordinator import group_coordinator

        return group_coordinator(self.broker)

    @staticmethod
    def _member_ids(coordinator: Any, group_id: str) -> list[str]:
        coordinator._ready()
        group = coordinator.groups.get(group_id)
        if group is None:
            raise KeyError(f"no group {group_id}")
        return list(getattr(group, "members", {}))

    # -- dispatch

    def take(self, key: int, version: int, request: dict) -> Plan:
        """The faults this request meets; each one met uses up one of its count."""
        plan = Plan()
        touched: list[Fault] = []
        for fault in self._faults:
            if fault.api_key != key:
                continue
            if fault.topic is not None and not self._names_target(fault, key, version, request):
                continue
            if fault.kind == "error":
                if plan.errors and plan.errors[0].topic is None:
                    continue  # an error for the whole request already wins
                if fault.topic is None and plan.errors:
                    continue
                plan.errors.append(fault)
            elif fault.kind == "delay" and plan.delay is None:
                plan.delay = fault
            elif fault.kind == "drop" and plan.drop is None:
                plan.drop = fault
            elif fault.kind == "throttle" and plan.throttle is None:
                plan.throttle = fault
            else:
                continue
            touched.append(fault)
        for fault in touched:
            fault.hits += 1
            k = (fault.kind, api_name(key))
            self.injected[k] = self.injected.get(k, 0) + 1
            if fault.count is not None:
                fault.count -= 1
        if touched:
            self._faults = [f for f in self._faults if f.count is None or f.count > 0]
        return plan

    def _names_target(self, fault: Fault, key: int, version: int, request: dict) -> bool:
        if key == 3:
            topics = request.get("topics")
            if topics is None or (version == 0 and not topics):
                return True  # all topics
            return any(self._resolve(t.get("name"), t.get("topic_id")) == fault.topic for t in topics)
        shape = shape_of(key, version)
        if shape is None:
            return False
        for topic, parts in self._walk(shape, request):
            if topic != fault.topic:
                continue
            if shape.req_parts is None or fault.partition is None:
                return True
            if fault.partition in parts:
                return True
        return False

    def _resolve(self, name: str | None, topic_id: bytes | None) -> str | None:
        if name:
            return name
        if topic_id and topic_id != NO_UUID and self.broker is not None:
            info = self.broker.metadata.by_id.get(topic_id)
            return info.name if info else None
        return name

    def _topic_name(self, shape: Shape, entry: Any) -> str | None:
        if isinstance(entry, str):
            return entry
        return self._resolve(entry.get(shape.req_name), entry.get("topic_id"))

    def _walk(self, shape: Shape, request: dict):  # type: ignore[no-untyped-def]
        for entry in request.get(shape.req_topics) or ():
            name = self._topic_name(shape, entry)
            if shape.req_parts is None:
                yield name, []
                continue
            parts = entry.get(shape.req_parts) or ()
            yield name, [p if shape.req_index is None else p[shape.req_index] for p in parts]


# ---------------------------------------------------------------------------------------------------------------
# applying a plan to one request

Handler = Callable[[Any, dict], Awaitable[dict | None]]


class DropConnection(Exception):
    """Close the connection without an answer (dispatch turns this into CloseConnection)."""


async def run_with_faults(plan: Plan, faults: Faults, handler: Handler, ctx: Any, request: dict) -> dict | None:
    """Handle a request under the faults of its plan; DropConnection when it must go unanswered."""
    key, version = ctx.header.api_key, ctx.header.api_version
    if plan.drop is not None and plan.drop.before:
        raise DropConnection(f"fault {plan.drop.id}: connection dropped before {api_name(key)} was applied")
    if plan.delay is not None and plan.delay.before:
        await anyio.sleep(plan.delay.delay_ms / 1000)
    if plan.errors:
        response = await _with_errors(plan.errors, faults, handler, ctx, request, key, version)
    else:
        response = await handler(ctx, request)
    if plan.drop is not None:
        raise DropConnection(f"fault {plan.drop.id}: connection dropped after {api_name(key)} was applied")
    if plan.delay is not None and not plan.delay.before:
        await anyio.sleep(plan.delay.delay_ms / 1000)
    if plan.throttle is not None and response is not None and "throttle_time_ms" in _top_fields(key, version):
        response["throttle_time_ms"] = max(int(response.get("throttle_time_ms") or 0), plan.throttle.throttle_ms)
    return response


def _code_for(errors: list[Fault], topic: str | None, partition: int | None) -> int | None:
    for fault in errors:
        if fault.matches_partition(topic, partition):
            return fault.error_code
    return None


async def _with_errors(errors: list[Fault], faults: Faults, handler: Handler, ctx: Any, request: dict, key: int,
                       version: int) -> dict | None:
    if key == 3:
        return await _metadata_with_errors(errors, faults, handler, ctx, request)
    shape = shape_of(key, version)
    if shape is not None:
        return await _partitioned_with_errors(shape, errors, faults, handler, ctx, request, key, version)
    fault = errors[0]
    keyed = _KEYED.get(key)
    if keyed is not None and version >= keyed[0]:
        _, req_list, req_key, resp_array, resp_key = keyed
        entries = []
        for item in request.get(req_list) or ():
            ident = item if req_key is None else item[req_key]
            entries.append({resp_key: ident, "error_code": fault.error_code, **_KEYED_EXTRAS.get(key, {})})
        return {resp_array: entries, "throttle_time_ms": 0}
    if key in _RESOURCES:
        return {"throttle_time_ms": 0, _RESOURCES[key]: [
            {"error_code": fault.error_code, "error_message": None, "resource_type": r["resource_type"],
             "resource_name": r["resource_name"]} for r in request.get("resources") or ()]}
    fields = _top_fields(key, version)
    if "error_code" not in fields:
        raise DropConnection(f"{api_name(key)} v{version} has no error code to inject; closing instead")
    response = {"error_code": fault.error_code, "throttle_time_ms": 0}
    response.update({k: v for k, v in _TOP_EXTRAS.get(key, {}).items() if k in fields})
    if key == 13 and version >= 3:  # LeaveGroup: each member leaving gets the error too
        response["members"] = [{"member_id": m["member_id"], "group_instance_id": m.get("group_instance_id"),
                                "error_code": fault.error_code} for m in request.get("members") or ()]
    if key == 18:  # ApiVersions: clients need the versions to retry
        from kbroker.server.dispatch import supported_api_versions

        response["api_keys"] = supported_api_versions()
    return response


async def _partitioned_with_errors(shape: Shape, errors: list[Fault], faults: Faults, handler: Handler, ctx: Any,
                                   request: dict, key: int, version: int) -> dict | None:
    kept_topics: list[Any] = []
    failed: list[tuple[Any, list[tuple[int | None, int]]]] = []  # (request topic entry, [(partition, code)])
    for entry in request.get(shape.req_topics) or ():
        name = faults._topic_name(shape, entry)
        if shape.req_parts is None:
            code = _code_for(errors, name, None)
            if code is None:
                kept_topics.append(entry)
            else:
                failed.append((entry, [(None, code)]))
            continue
        kept_parts, bad = [], []
        for p in entry.get(shape.req_parts) or ():
            index = p if shape.req_index is None else p[shape.req_index]
            code = _code_for(errors, name, index)
            if code is None:
                kept_parts.append(p)
            else:
                bad.append((index, code))
        if kept_parts:
            kept_topics.append({**entry, shape.req_parts: kept_parts} if not isinstance(entry, str) else entry)
        if bad:
            failed.append((entry, bad))
    response: dict | None
    if kept_topics:
        reduced = {**request, shape.req_topics: kept_topics, **dict(shape.request_tweaks)}
        response = await handler(ctx, reduced)
        if response is None:  # acks=0: an error can only be told by closing the connection, as Kafka does
            raise DropConnection(f"injected error on a {api_name(key)} request that gets no answer")
    else:
        if key == 0 and request.get("acks") == 0:
            raise DropConnection("injected error on a Produce request with acks=0")
        response = {"throttle_time_ms": 0}
        if key == 1:
            response.update({"error_code": 0, "session_id": 0})
    entries = response.setdefault(shape.resp_topics, [])
    for entry, bad in failed:
        if shape.resp_parts is None:
            code = bad[0][1]
            name = entry if isinstance(entry, str) else entry.get(shape.req_name)
            item = {shape.resp_name: name, shape.error_field: code, **dict(shape.extras)}
            if not isinstance(entry, str) and "topic_id" in entry:
                item["topic_id"] = entry["topic_id"]
            entries.append(item)
            continue
        ident = {shape.resp_name: entry.get(shape.req_name)}
        if "topic_id" in entry:
            ident["topic_id"] = entry["topic_id"]
        target = next((t for t in entries if t.get(shape.resp_name) == ident[shape.resp_name]
                       and t.get("topic_id", NO_UUID) == ident.get("topic_id", NO_UUID)), None)
        if target is None:
            target = {**ident, shape.resp_parts: []}
            entries.append(target)
        parts = target.setdefault(shape.resp_parts, [])
        for index, code in bad:
            parts.append({shape.resp_index: index, shape.error_field: code, **dict(shape.extras)})
    return response


async def _metadata_with_errors(errors: list[Fault], faults: Faults, handler: Handler, ctx: Any,
                                request: dict) -> dict | None:
    """Metadata is read-only: answer it, then put the error into the topic (or partition) entries."""
    response = await handler(ctx, request)
    if response is None:
        return None
    for topic in response.get("topics") or ():
        name = topic.get("name")
        for fault in errors:
            if fault.topic is not None and fault.topic != name:
                continue
            if fault.partition is None:
                topic["error_code"] = fault.error_code
                if fault.topic is None or fault.error_code in (int(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
                                                               int(ErrorCode.LEADER_NOT_AVAILABLE)):
                    topic["partitions"] = []
            else:
                for p in topic.get("partitions") or ():
                    if p.get("partition_index") == fault.partition:
                        p["error_code"] = fault.error_code
                        if fault.error_code == int(ErrorCode.LEADER_NOT_AVAILABLE):
                            p["leader_id"] = -1
            break
    return response


async def error_answer(ctx: Any, request: dict, code: int) -> dict | None:
    """The answer to a request whose handler failed: `code` in each of its entries, as Kafka's
    AbstractRequest.getErrorResponse builds it. DropConnection where the API has nowhere to put an error (or the
    request gets no answer, Produce acks=0), as Kafka then closes the connection."""
    key, version = ctx.header.api_key, ctx.header.api_version
    fault = Fault(0, "error", key, None, error_code=int(code))

    async def not_applied(_ctx: Any, _request: dict) -> dict | None:
        raise DropConnection(f"{api_name(key)}: no error answer")

    if key == 3:  # Metadata: every named topic in error, no brokers
        return {"throttle_time_ms": 0, "brokers": [], "controller_id": -1,
                "topics": [{"error_code": int(code), "name": t.get("name"), "topic_id": t.get("topic_id", NO_UUID),
                            "is_internal": False, "partitions": []} for t in request.get("topics") or ()]}
    if key == 0 and request.get("acks") == 0:
        raise DropConnection("a failed Produce with acks=0 can only be told by closing the connection")
    faults = getattr(ctx.broker, "faults", None) or Faults(ctx.broker)
    return await _with_errors([fault], faults, not_applied, ctx, request, key, version)
