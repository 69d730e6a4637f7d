"""Client quotas: the store behind DescribeClientQuotas / AlterClientQuotas, and the byte-rate accounting that
throttles producers and consumers (Kafka's ClientQuotaManager with the default quota callback).

Entities are Kafka's: a user and/or a client id (a name, or None for the default entity), or an IP. Keys:
producer_byte_rate, consumer_byte_rate, request_percentage and controller_mutation_rate for users and client
ids, connection_creation_rate for IPs. kbroker enforces the two byte rates.

Which quota applies to a request follows Kafka's precedence, most specific first: (user, client id),
(user, default client id), (user), (default user, client id), (default user, default client id),
(default user), (client id), (default client id). Without authentication every client is user "ANONYMOUS".
Clients sharing the matched entity share one rate: a quota set for a client id is shared by every connection
using that id, one set for the default client id applies to each client id separately.

A rate is measured as Kafka measures it: quota.window.num samples of quota.window.size.seconds each, the rate
being the sum of the samples over their elapsed time (at least window.num - 1 whole windows). A request that
takes the rate above the quota gets throttle_time_ms = (rate - quota) / quota * window, the time after which the
rate is back within the quota if nothing more is recorded.

The hooks, for the produce and fetch paths:

    throttle_ms = broker.quotas.record_produce(client_id, nbytes)      # after appending; put it in the response
    throttle_ms = broker.quotas.record_fetch(client_id, nbytes)        # before answering; if > 0, Kafka answers
                                                                       # with no records (and the throttle time),
                                                                       # and the bytes are not counted
    max_bytes = min(max_bytes, broker.quotas.fetch_max_bytes(client_id))
"""
from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wire.errors import ErrorCode, KafkaError

if TYPE_CHECKING:
    from kbroker.broker import Broker

USER, CLIENT_ID, IP = "user", "client-id", "ip"
ANONYMOUS = "ANONYMOUS"
PRODUCE, FETCH = "producer_byte_rate", "consumer_byte_rate"
USER_CLIENT_KEYS = {"producer_byte_rate": "LONG", "consumer_byte_rate": "LONG", "request_percentage": "DOUBLE",
                    "controller_mutation_rate": "DOUBLE"}
IP_KEYS = {"connection_creation_rate": "INT"}
MATCH_EXACT, MATCH_DEFAULT, MATCH_SPECIFIED = 0, 1, 2
_IDLE_MS = 3600_000  # rates of clients idle this long are forgotten

Entity = tuple[tuple[str, "str | None"], ...]  # sorted (entity type, name or None for the default)


def entity_of(pairs: list[tuple[str, str | None]]) -> Entity:
    return tuple(sorted(pairs, key=lambda p: p[0]))


def _entity_text(entity: Entity) -> str:
    return "ClientQuotaEntity(entries={" + ", ".join(f"{t}={n}" for t, n in entity) + "})"


@dataclass
class Rate:
    """Kafka's SampledStat Rate over `samples` windows of `window_ms`."""

    samples: int
    window_ms: int
    _windows: list[list[float]] = field(default_factory=list)  # [start_ms, total]
    last_ms: int = 0

    def record(self, value: float, now_ms: int) -> None:
        self._purge(now_ms)
        if not self._windows or now_ms >= self._windows[-1][0] + self.window_ms:
            self._windows.append([now_ms, 0.0])
        self._windows[-1][1] += value
        self.last_ms = now_ms

    def _purge(self, now_ms: int) -> None:
        horizon = now_ms - self.samples * self.window_ms
        while self._windows and self._windows[0][0] + self.window_ms <= horizon:
            self._windows.pop(0)
        while len(self._windows) > self.samples:
            self._windows.pop(0)

    def window_size(self, now_ms: int) -> int:
        self._purge(now_ms)
        oldest = self._windows[0][0] if self._windows else now_ms
        elapsed = now_ms - oldest
        full = elapsed // self.window_ms
        if full < self.samples - 1:
            elapsed += (self.samples - 1 - full) * self.window_ms
        return max(int(elapsed), 1)

    def rate(self, now_ms: int) -> float:
        """Units per second."""
        total = sum(w[1] for w in self._windows)
        return total / (self.window_size(now_ms) / 1000.0)


class QuotaManager:
    def __init__(self, broker: "Broker") -> None:
        self.broker = broker
        self._rates: dict[tuple[str, str, str], Rate] = {}

    # -- the store

    @property
    def quotas(self) -> dict[Entity, dict[str, float]]:
        return self.broker.metadata.client_quotas

    def describe(self, components: list[dict], strict: bool) -> list[dict]:
        """DescribeClientQuotas entries; KafkaError(INVALID_REQUEST / UNSUPPORTED_VERSION) for a bad filter."""
        exact: dict[str, str | None] = {}
        specified: set[str] = set()
        for c in components:
            etype = c["entity_type"]
            if not etype:
                raise KafkaError(ErrorCode.INVALID_REQUEST, "Invalid empty entity type.")
            if etype in exact or etype in specified:
                raise KafkaError(ErrorCode.INVALID_REQUEST, f"Entity type {etype} cannot appear more than once in the filter.")
            if etype not in (IP, USER, CLIENT_ID):
                raise KafkaError(ErrorCode.UNSUPPORTED_VERSION, f"Unsupported entity type {etype}")
            match_type, match = c["match_type"], c.get("match")
            if match_type == MATCH_EXACT:
                if match is None:
                    raise KafkaError(ErrorCode.INVALID_REQUEST, "Request specified MATCH_TYPE_EXACT, but set match string to null.")
                exact[etype] = match
            elif match_type == MATCH_DEFAULT:
                if match is not None:
                    raise KafkaError(ErrorCode.INVALID_REQUEST, "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.")
                exact[etype] = None
            elif match_type == MATCH_SPECIFIED:
                if match is not None:
                    raise KafkaError(ErrorCode.INVALID_REQUEST, "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.")
                specified.add(etype)
            else:
                raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unknown match type {match_type}")
        if (IP in exact or IP in specified) and ({USER, CLIENT_ID} & (set(exact) | specified)):
            raise KafkaError(ErrorCode.INVALID_REQUEST, "Invalid entity filter component combination. IP filter "
                                                        "component should not be used with user or clientId filter component.")
        out = []
        for entity, values in self.quotas.items():
            entries = dict(entity)
            if strict and len(entries) != len(exact) + len(specified):
                continue
            if any(t not in entries or entries[t] != n for t, n in exact.items()):
                continue
            if any(t not in entries for t in specified):
                continue
            out.append({"entity": [{"entity_type": t, "entity_name": n} for t, n in entity],
                        "values": [{"key": k, "value": v} for k, v in values.items()]})
        return out

    def alter(self, entries: list[dict], validate_only: bool,
              resolvable: set[str] | frozenset[str] = frozenset()) -> list[tuple[list[dict], int, str | None]]:
        """AlterClientQuotas: per entry (entity as given, error code, message); applied unless validate_only.
        `resolvable`: the IP entity names that are host names and were resolved (by the caller, off the event
        loop: see ip_names_to_resolve); any other name that is not an IP address is refused."""
        results = []
        updated = {e: dict(v) for e, v in self.quotas.items()}
        seen: set[Entity] = set()
        for entry in entries:
            pairs = [(e["entity_type"], e["entity_name"]) for e in entry["entity"]]
            entity = entity_of(pairs)
            try:
                if entity in seen:
                    raise KafkaError(ErrorCode.INVALID_REQUEST, f"Ignoring duplicate entity {_entity_text(entity)}")
                seen.add(entity)
                ops: dict[str, float | None] = {}
                for op in entry["ops"]:
                    if op["key"] in ops:
                        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Duplicate quota key {op['key']} not updating "
                                                                    f"quota for this entity {_entity_text(entity)}")
                    ops[op["key"]] = None if op["remove"] else op["value"]
                keys = self._validate_entity(pairs, resolvable)
                current = dict(updated.get(entity, {}))
                for key, value in ops.items():
                    if value is None:
                        current.pop(key, None)
                        continue
                    _validate_value(keys, key, value)
                    current[key] = float(value)
                updated[entity] = current
                results.append((entry["entity"], 0, None))
            except KafkaError as exc:
                results.append((entry["entity"], int(exc.code), exc.message))
        if not validate_only:
            self.broker.metadata.set_client_quotas(updated)
        return results

    @staticmethod
    def _validate_entity(pairs: list[tuple[str, str | None]], resolvable: set[str] | frozenset[str]) -> dict[str, str]:
        if not pairs:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "Invalid empty client quota entity")
        types: dict[str, str | None] = {}
        for etype, name in pairs:
            if etype in types:
                raise KafkaError(ErrorCode.INVALID_REQUEST, f"Invalid client quota entity, duplicate entity entry {etype}")
            if etype not in (USER, CLIENT_ID, IP):
                raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unhandled client quota entity type: {etype}")
            if name is not None and name == "":
                raise KafkaError(ErrorCode.INVALID_REQUEST, f"Empty {etype} not supported")
            types[etype] = name
        if IP in types:
            if USER in types or CLIENT_ID in types:
                raise KafkaError(ErrorCode.INVALID_REQUEST,
                                 "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId")
            if not _valid_ip(types[IP], resolvable):
                raise KafkaError(ErrorCode.INVALID_REQUEST, f"{types[IP]} is not a valid IP or resolvable host.")
            return IP_KEYS
        return USER_CLIENT_KEYS

    # -- enforcement

    def _limit(self, key: str, user: str, client_id: str) -> tuple[float, tuple[str, str]] | None:
        """(quota, metric tags) of the most specific entity with a value for key, None when unlimited."""
        q = self.quotas
        if not q:
            return None
        candidates = [
            (((CLIENT_ID, client_id), (USER, user)), (user, client_id)),
            (((CLIENT_ID, None), (USER, user)), (user, client_id)),
            (((USER, user),), (user, "")),
            (((CLIENT_ID, client_id), (USER, None)), (user, client_id)),
            (((CLIENT_ID, None), (USER, None)), (user, client_id)),
            (((USER, None),), (user, "")),
            (((CLIENT_ID, client_id),), ("", client_id)),
            (((CLIENT_ID, None),), ("", client_id)),
        ]
        for entity, tags in candidates:
            values = q.get(entity)
            if values and key in values:
                return values[key], tags
        return None

    def _config(self) -> tuple[int, int]:
        cfg = self.broker.config
        return max(int(cfg["quota.window.num"]), 1), max(int(cfg["quota.window.size.seconds"]), 1) * 1000

    def _record(self, key: str, client_id: str | None, nbytes: float, now_ms: int | None, user: str) -> int:
        found = self._limit(key, user, client_id or "")
        if found is None:
            return 0
        bound, tags = found
        now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        samples, window_ms = self._config()
        rate_key = (key, *tags)
        rate = self._rates.get(rate_key)
        if rate is None or rate.samples != samples or rate.window_ms != window_ms:
            rate = self._rates[rate_key] = Rate(samples, window_ms)
            self._forget_idle(now)
        rate.record(nbytes, now)
        observed = rate.rate(now)
        if observed <= bound:
            return 0
        return int(round((observed - bound) / bound * rate.window_size(now)))

    def _forget_idle(self, now_ms: int) -> None:
        for key in [k for k, r in self._rates.items() if now_ms - r.last_ms > _IDLE_MS and r.last_ms]:
            del self._rates[key]

    def record_produce(self, client_id: str | None, nbytes: int, now_ms: int | None = None,
                       user: str = ANONYMOUS) -> int:
        """Count nbytes produced by this client; the throttle time (ms) its response must carry."""
        return self._record(PRODUCE, client_id, nbytes, now_ms, user)

    def record_fetch(self, client_id: str | None, nbytes: int, now_ms: int | None = None,
                     user: str = ANONYMOUS) -> int:
        """Count nbytes about to be sent to a consumer. When the result is > 0 the bytes are taken back: Kafka
        then answers with no records and that throttle time."""
        throttle = self._record(FETCH, client_id, nbytes, now_ms, user)
        if throttle > 0:
            self._record(FETCH, client_id, -nbytes, now_ms, user)
        return throttle

    def fetch_max_bytes(self, client_id: str | None, user: str = ANONYMOUS) -> int:
        """The most one fetch may return without being throttled for sure (Kafka's getMaxValueInQuotaWindow)."""
        found = self._limit(FETCH, user, client_id or "")
        if found is None:
            return 2**31 - 1
        samples, window_ms = self._config()
        return int(min(found[0] * (samples - 1) * window_ms / 1000, 2**31 - 1))

    def has_quotas(self) -> bool:
        return bool(self.quotas)


def _validate_value(keys: dict[str, str], key: str, value: float) -> None:
    kind = keys.get(key)
    if kind is None:
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Invalid configuration key {key}")
    if value <= 0.0:
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Quota {key} must be greater than 0")
    if kind == "DOUBLE":
        return
    limit = {"INT": 2**31 - 1, "LONG": 2**63 - 1}[kind]
    if value > limit:
        article = "an" if kind == "INT" else "a"
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Proposed value for {key} is too large for {article} {kind}.")
    if abs(math.fmod(value, 1.0)) > 1e-6:
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"{key} cannot be a fractional value.")


def is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def ip_names_to_resolve(entries: list[dict]) -> set[str]:
    """The IP entity names of an AlterClientQuotas request that are not IP addresses: Kafka accepts a host name
    it can resolve (InetAddress.getByName), and resolving is I/O for the caller to do off the event loop."""
    return {e["entity_name"] for entry in entries for e in entry["entity"]
            if e["entity_type"] == IP and e["entity_name"] and not is_ip_address(e["entity_name"])}


def _valid_ip(name: str | None, resolvable: set[str] | frozenset[str]) -> bool:
    return name is None or is_ip_address(name) or name in resolvable
