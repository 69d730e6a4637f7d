"""The share coordinator of one broker: share groups' membership, share sessions, and the share-partitions
whose state lives in `__share_group_state` (KIP-932).

Everything is in memory and changes synchronously (the broker's one event loop is the only writer); every change
of a share-partition that must survive a restart is written through a ShareStateStore before the request that
made it is answered. Deadlines (members' session timeouts, acquisition locks) are checked on every call and by a
once-a-second background task, so a killed consumer's records come back even when nobody fetches.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

import anyio

from kbroker.coordinator.share.group import ASSIGNOR, ShareGroup, ShareMember, simple_assign
from kbroker.coordinator.share.partition_state import SharePartitionState
from kbroker.coordinator.share.offset_reset import duration_ms
from kbroker.coordinator.share.settings import ShareSettings
from kbroker.coordinator.share.store import (
    LogShareStateStore,
    MemoryShareStateStore,
    ShareStateRecord,
    ShareStateStore,
)
from kbroker.per_broker import per_broker
from wire.errors import ErrorCode as E
from wire.errors import KafkaError

if TYPE_CHECKING:
    from kbroker.broker import Broker

log = logging.getLogger(__name__)

PartitionKey = tuple[str, bytes, int]  # (group id, topic id, partition)

LEAVE_GRACE_MS = 5000
"""A member that leaves (heartbeat epoch -1) keeps its share session and records this long: clients send the
closing ShareAcknowledge beside the leaving heartbeat (librdkafka does, on another connection), and its
acknowledgements must find the records still acquired."""


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class ShareSession:
    """A member's share session (KIP-932's twin of an incremental fetch session): the partitions it fetches and
    the epoch its next request must carry."""

    group_id: str
    member_id: str
    epoch: int = 1
    partitions: set[tuple[bytes, int]] = field(default_factory=set)
    connection_id: int | None = None  # the connection that opened it: the session ends when that one closes

    def bump(self) -> None:
        self.epoch = 1 if self.epoch >= 2**31 - 1 else self.epoch + 1


class ShareCoordinator:
    def __init__(self, broker: "Broker | None" = None, *, store: ShareStateStore | None = None) -> None:
        self.broker = broker
        self.settings = ShareSettings(broker)
        self.store: ShareStateStore = store or (LogShareStateStore(broker) if broker is not None
                                                else MemoryShareStateStore())
        self.groups: dict[str, ShareGroup] = {}
        self.partitions: dict[PartitionKey, SharePartitionState] = {}
        self._by_group: dict[str, set[PartitionKey]] = {}  # group id -> its keys in self.partitions
        self.sessions: dict[tuple[str, str], ShareSession] = {}
        self._targets: dict[str, dict[str, dict[bytes, list[int]]]] = {}
        self._topics_seen: dict[str, dict[str, tuple[bytes, int]]] = {}
        self._loaded = False
        self._waiters: dict[PartitionKey, set[anyio.Event]] = {}
        self._leaving: dict[tuple[str, str], int] = {}  # (group, member) that left -> when its records go back
        self._last_tick = 0

    # ---------------------------------------------------------------------------------------------------------
    # loading, deadlines

    def ready(self) -> None:
        """Replay the stored state once, then run whatever deadline is due."""
        if not self._loaded:
            self._loaded = True
            from kbroker.coordinator.share import metrics

            metrics.register(self)
            count = 0
            for record in self.store.replay():
                key = (record.group_id, record.topic_id, record.partition)
                if record.deleted:
                    self._drop(key)
                    continue
                self._put(key, SharePartitionState.restore(
                    record.start_offset, record.batches or (), state_epoch=record.state_epoch,
                    leader_epoch=record.leader_epoch))
                count += 1
            known = set(getattr(getattr(self.broker, "metadata", None), "share_groups", None) or ())
            for group_id in known | {k[0] for k in self.partitions}:
                self.groups.setdefault(group_id, ShareGroup(group_id))
            if count:
                log.info("share coordinator loaded %d share-partition(s) of %d group(s)", len(self.partitions),
                         len(self.groups))
        self.tick(now_ms())

    def tick(self, now: int) -> None:
        """Member expiry, lock expiry, deleted topics, at most every 100 ms (a fetch expires the locks of the
        partitions it reads itself). Per share-partition this costs a lookup: the locked count and the deadline
        heap (partition_state) answer without looking at the records."""
        if now - self._last_tick < 100:
            return
        self._last_tick = now
        if self.broker is not None:
            gone = [k for k in self.partitions if k[1] not in self.broker.metadata.by_id]
            if gone:  # a deleted topic's share-partitions go with it, as Kafka deletes their share state
                try:
                    self._forget(gone)
                except KafkaError as exc:
                    log.warning("share state of deleted topics not removed: %s", exc)
        for key, due in list(self._leaving.items()):
            if due <= now:
                del self._leaving[key]
                self.sessions.pop(key, None)
                self.release_member(*key)
        for group in list(self.groups.values()):
            expired = [m for m in group.members.values() if m.deadline_ms and m.deadline_ms <= now]
            for member in expired:
                log.info("share group %s: member %s expired", group.group_id, member.member_id)
                self._remove_member(group, member.member_id)
        for key, state in self.partitions.items():
            if not state.acquired_count():
                continue
            due = state.next_deadline()
            if due is not None and due <= now and state.expire_locks(now, self.settings.delivery_limit(key[0])):
                self.persist_quietly(key, state)
                self.wake(key)

    async def run(self, *, task_status: anyio.abc.TaskStatus = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            await anyio.sleep(0.5)
            try:
                self.ready()
            except Exception:  # a deadline must not take the broker down
                log.exception("share coordinator tick failed")

    # ---------------------------------------------------------------------------------------------------------
    # waiting ShareFetches: woken when records of a share-partition come free (acknowledged, released, expired)

    def add_waiter(self, key: PartitionKey, event: anyio.Event) -> None:
        self._waiters.setdefault(key, set()).add(event)

    def remove_waiter(self, key: PartitionKey, event: anyio.Event) -> None:
        waiters = self._waiters.get(key)
        if waiters is not None:
            waiters.discard(event)
            if not waiters:
                del self._waiters[key]

    def wake(self, key: PartitionKey) -> bool:
        """Wake the fetches waiting on a share-partition; whether there were any."""
        waiters = self._waiters.pop(key, None)
        for event in waiters or ():
            event.set()
        return bool(waiters)

    # ---------------------------------------------------------------------------------------------------------
    # persistence

    def persist(self, key: PartitionKey, state: SharePartitionState) -> None:
        group_id, topic_id, partition = key
        self.store.append(ShareStateRecord(group_id, topic_id, partition, state.start_offset, state.state_epoch,
                                           state.leader_epoch, tuple(state.batches())), now_ms())

    def persist_quietly(self, key: PartitionKey, state: SharePartitionState) -> None:
        try:
            self.persist(key, state)
        except KafkaError as exc:
            log.warning("share state of %s not written: %s", key, exc)

    def _forget(self, keys: Iterable[PartitionKey]) -> None:
        for key in list(keys):
            self.store.append(ShareStateRecord(key[0], key[1], key[2], deleted=True), now_ms())
            self._drop(key)

    def _put(self, key: PartitionKey, state: SharePartitionState) -> SharePartitionState:
        self.partitions[key] = state
        self._by_group.setdefault(key[0], set()).add(key)
        return state

    def _drop(self, key: PartitionKey) -> None:
        self.partitions.pop(key, None)
        keys = self._by_group.get(key[0])
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_group[key[0]]

    def _group_keys(self, group_id: str) -> list[PartitionKey]:
        return sorted(self._by_group.get(group_id, ()))

    # ---------------------------------------------------------------------------------------------------------
    # topics

    def topic_info(self, topic_id: bytes) -> Any:
        return self.broker.metadata.by_id.get(topic_id) if self.broker is not None else None

    def _topics(self, names: Iterable[str]) -> dict[str, tuple[bytes, int]]:
        out = {}
        for name in names:
            info = self.broker.topic(name) if self.broker is not None else None
            if info is not None:
                out[name] = (info.topic_id, info.partitions)
        return out

    # ---------------------------------------------------------------------------------------------------------
    # membership

    def other_group_type(self, group_id: str) -> bool:
        from kbroker.coordinator import group_coordinator

        return self.broker is not None and group_id in group_coordinator(self.broker).groups

    def heartbeat(self, request: dict, *, client_id: str, client_host: str) -> dict:
        self.ready()
        group_id, member_id, epoch = request["group_id"], request["member_id"] or "", request["member_epoch"]
        subscribed = request.get("subscribed_topic_names")
        if not group_id:
            return _hb_error(E.INVALID_GROUP_ID, "GroupId can't be empty.")
        if not member_id:
            return _hb_error(E.INVALID_REQUEST, "MemberId can't be empty.")
        if epoch == 0 and not subscribed:
            return _hb_error(E.INVALID_REQUEST, "SubscribedTopicNames must be set in first request.")
        if epoch < -1:
            return _hb_error(E.INVALID_REQUEST, f"MemberEpoch is {epoch}, but must be >= -1.")
        if self.other_group_type(group_id):
            return _hb_error(E.GROUP_ID_NOT_FOUND, f"Group {group_id} is not a share group.")
        group = self.groups.get(group_id)
        if epoch == -1:
            if group is None:
                return _hb_error(E.GROUP_ID_NOT_FOUND, f"Group {group_id} not found.")
            if member_id not in group.members:
                return _hb_error(E.UNKNOWN_MEMBER_ID, f"Member {member_id} is not a member of group {group_id}.")
            self._remove_member(group, member_id, leaving=True)
            return {"error_code": 0, "member_id": member_id, "member_epoch": -1,
                    "heartbeat_interval_ms": self.settings.heartbeat_interval_ms(group_id)}
        now = now_ms()
        member = group.members.get(member_id) if group is not None else None
        if epoch == 0:
            self._leaving.pop((group_id, member_id), None)  # back within the leave grace: keep its new session
            if group is None:
                if sum(1 for g in self.groups.values()) >= self.settings.max_groups():
                    return _hb_error(E.GROUP_MAX_SIZE_REACHED, "The share group limit is reached.")
                group = self._add_group(group_id)
            if member is None:
                if len(group.members) >= self.settings.max_size():
                    return _hb_error(E.GROUP_MAX_SIZE_REACHED,
                                     f"The share group {group_id} has reached its maximum size.")
                member = group.members[member_id] = ShareMember(member_id, client_id, client_host,
                                                               request.get("rack_id"), list(subscribed or []))
                log.info("share group %s: member %s joined", group_id, member_id)
            else:
                member.subscribed = list(subscribed or [])
                member.sent_epoch = -1
            self._reassign(group)
        else:
            if member is None:
                return _hb_error(E.UNKNOWN_MEMBER_ID, f"Member {member_id} is not a member of group {group_id}.")
            if epoch not in (member.member_epoch, member.previous_epoch):
                return _hb_error(E.FENCED_MEMBER_EPOCH, f"The member epoch {epoch} is fenced; the member's is "
                                                        f"{member.member_epoch}.")
            if epoch == member.previous_epoch and epoch != member.member_epoch:
                member.sent_epoch = -1  # the answer carrying the new epoch was lost: send it again
            if subscribed is not None and sorted(subscribed) != sorted(member.subscribed):
                member.subscribed = list(subscribed)
                self._reassign(group)
            elif self._topics(group.subscribed_topics()) != self._topics_seen.get(group_id):
                self._reassign(group)  # a subscribed topic appeared, went, or grew
        member.deadline_ms = now + self.settings.session_timeout_ms(group_id)
        if request.get("rack_id") is not None:
            member.rack_id = request["rack_id"]
        target = self._targets.get(group_id, {}).get(member_id, {})
        if member.member_epoch != group.assignment_epoch or target != member.assignment:
            member.previous_epoch, member.member_epoch = member.member_epoch, group.assignment_epoch
            member.assignment = target
        response: dict = {"error_code": 0, "member_id": member_id, "member_epoch": member.member_epoch,
                          "heartbeat_interval_ms": self.settings.heartbeat_interval_ms(group_id)}
        if member.sent_epoch != member.member_epoch:
            response["assignment"] = {"topic_partitions": [{"topic_id": tid, "partitions": sorted(parts)}
                                                           for tid, parts in sorted(member.assignment.items())]}
            member.sent_epoch = member.member_epoch
        return response

    def _add_group(self, group_id: str) -> ShareGroup:
        group = self.groups.get(group_id)
        if group is None:
            group = self.groups[group_id] = ShareGroup(group_id)
            self._remember_groups()
        return group

    def _remember_groups(self) -> None:
        """Keep the share groups' ids with the broker's metadata, so that an empty share group outlives a restart
        (Kafka keeps a ShareGroupMetadata record in __consumer_offsets)."""
        metadata = getattr(self.broker, "metadata", None)
        if metadata is None:
            return
        metadata.share_groups = sorted(self.groups)
        save = getattr(metadata, "save", None)
        if save is not None:
            save()

    def _reassign(self, group: ShareGroup) -> None:
        topics = self._topics(group.subscribed_topics())
        self._topics_seen[group.group_id] = topics
        target = simple_assign(list(group.members.values()), topics)
        group.group_epoch += 1
        group.assignment_epoch = group.group_epoch
        self._targets[group.group_id] = target

    def _remove_member(self, group: ShareGroup, member_id: str, *, leaving: bool = False) -> None:
        """Out of the group; a member that expired gives its records back at once, one that left after a grace
        (LEAVE_GRACE_MS) unless it closes its share session first."""
        group.members.pop(member_id, None)
        if leaving and (group.group_id, member_id) in self.sessions:
            self._leaving[(group.group_id, member_id)] = now_ms() + LEAVE_GRACE_MS
        else:
            self.sessions.pop((group.group_id, member_id), None)
            self.release_member(group.group_id, member_id)
        self._reassign(group)

    def release_member(self, group_id: str, member_id: str) -> None:
        limit = self.settings.delivery_limit(group_id)
        for key in self._group_keys(group_id):
            state = self.partitions[key]
            if state.release_member(member_id, limit):
                self.persist_quietly(key, state)
                self.wake(key)

    # ---------------------------------------------------------------------------------------------------------
    # share sessions

    def open_session(self, group_id: str, member_id: str, epoch: int, *, acknowledging: bool,
                     connection_id: int | None = None) -> tuple[int, ShareSession | None]:
        """The session a ShareFetch (acknowledging=False) or ShareAcknowledge works in, and its error. Opening one
        (epoch 0) is refused with SHARE_SESSION_LIMIT_REACHED once group.share.max.share.sessions are open."""
        self.ready()
        key = (group_id, member_id)
        if epoch == 0:
            if acknowledging:
                return E.INVALID_SHARE_SESSION_EPOCH, None
            self._leaving.pop(key, None)
            if key in self.sessions:  # a new session: the member gave up what the old one held
                del self.sessions[key]
                self.release_member(group_id, member_id)
            if len(self.sessions) >= self.settings.max_share_sessions():
                return E.SHARE_SESSION_LIMIT_REACHED, None
            session = self.sessions[key] = ShareSession(group_id, member_id, connection_id=connection_id)
            return E.NONE, session
        session = self.sessions.get(key)
        if session is None:
            return E.SHARE_SESSION_NOT_FOUND, None
        if epoch == -1:
            return E.NONE, session
        if epoch != session.epoch:
            return E.INVALID_SHARE_SESSION_EPOCH, None
        session.bump()
        return E.NONE, session

    def close_session(self, session: ShareSession) -> None:
        key = (session.group_id, session.member_id)
        self._leaving.pop(key, None)
        if self.sessions.get(key) is session:
            del self.sessions[key]
            self.release_member(session.group_id, session.member_id)

    def connection_closed(self, connection_id: int) -> None:
        """The connection that opened these sessions closed: they end, their records go back at once (Kafka's
        share session cache drops a session with its connection)."""
        for session in [s for s in self.sessions.values() if s.connection_id == connection_id]:
            self.close_session(session)

    # ---------------------------------------------------------------------------------------------------------
    # share-partitions

    def share_partition(self, group_id: str, topic_id: bytes, index: int, partition: Any) -> SharePartitionState:
        """The state of a share-partition, initialised from share.auto.offset.reset on first use. Only a share
        group (created by a heartbeat or AlterShareGroupOffsets) has share-partitions: GROUP_ID_NOT_FOUND else."""
        key = (group_id, topic_id, index)
        state = self.partitions.get(key)
        if state is None:
            if group_id not in self.groups:
                raise KafkaError(E.GROUP_ID_NOT_FOUND, f"Group {group_id} is not a share group.")
            state = SharePartitionState(self._initial_offset(group_id, partition), leader_epoch=partition.leader_epoch)
            self._put(key, state)
            self.persist(key, state)
        return state

    def _initial_offset(self, group_id: str, partition: Any) -> int:
        plog = partition.log
        reset = self.settings.auto_offset_reset(group_id)
        if reset == "earliest":
            return plog.log_start_offset
        if reset.startswith("by_duration:"):
            span = duration_ms(reset.split(":", 1)[1]) or 0
            found = plog.offset_for_timestamp(now_ms() - span)
            return found[0] if found is not None else partition.high_watermark
        return partition.high_watermark

    def acknowledge(self, group_id: str, member_id: str, topic_id: bytes, index: int,
                    batches: list[tuple[int, int, list[int]]], *, renew_allowed: bool) -> int:
        """Apply one partition's acknowledgements and write the new state; if the write fails, the change is
        taken back (the client retries, and nothing is half-acknowledged). The error code."""
        if self.topic_info(topic_id) is None and self.broker is not None:
            return E.UNKNOWN_TOPIC_ID
        state = self.partitions.get((group_id, topic_id, index))
        if state is None:
            return E.INVALID_RECORD_STATE
        before = state.memento()
        error = state.acknowledge(member_id, batches, now_ms=now_ms(),
                                  delivery_limit=self.settings.delivery_limit(group_id),
                                  lock_ms=self.settings.lock_ms(group_id), renew_allowed=renew_allowed)
        if error == E.NONE:
            try:
                self.persist((group_id, topic_id, index), state)
            except KafkaError as exc:
                state.restore_memento(before)
                return exc.code
            self.wake((group_id, topic_id, index))
        return error

    # ---------------------------------------------------------------------------------------------------------
    # administration

    def list_groups(self) -> list[dict]:
        self.ready()
        return [{"group_id": g.group_id, "protocol_type": "share", "group_state": g.state, "group_type": "share"}
                for g in self.groups.values()]

    def describe(self, group_id: str) -> dict:
        self.ready()
        group = self.groups.get(group_id)
        if not group_id:
            return {"group_id": group_id, "error_code": E.INVALID_GROUP_ID, "error_message": "The group id is empty.",
                    "group_state": "", "group_epoch": 0, "assignment_epoch": 0, "assignor_name": "", "members": []}
        if group is None:
            message = (f"Group {group_id} is not a share group." if self.other_group_type(group_id)
                       else f"Group {group_id} not found.")
            return {"group_id": group_id, "error_code": E.GROUP_ID_NOT_FOUND, "error_message": message,
                    "group_state": "Dead", "group_epoch": 0, "assignment_epoch": 0, "assignor_name": "", "members": []}
        members = []
        for m in group.members.values():
            parts = []
            for tid, partitions in sorted(m.assignment.items()):
                info = self.topic_info(tid)
                parts.append({"topic_id": tid, "topic_name": info.name if info is not None else "",
                              "partitions": sorted(partitions)})
            members.append({"member_id": m.member_id, "rack_id": m.rack_id, "member_epoch": m.member_epoch,
                            "client_id": m.client_id, "client_host": m.client_host,
                            "subscribed_topic_names": list(m.subscribed), "assignment": {"topic_partitions": parts}})
        return {"group_id": group_id, "error_code": 0, "group_state": group.state, "group_epoch": group.group_epoch,
                "assignment_epoch": group.assignment_epoch, "assignor_name": ASSIGNOR, "members": members}

    def is_share_group(self, group_id: str) -> bool:
        self.ready()
        return group_id in self.groups

    def has_members(self, group_id: str) -> bool:
        group = self.groups.get(group_id)
        return group is not None and bool(group.members)

    def offsets_alterable(self, group_id: str) -> tuple[int, str] | None:
        """The group error AlterShareGroupOffsets answers with (code, message), or None: the offsets of this group
        may be set."""
        self.ready()
        if not group_id:
            return E.INVALID_GROUP_ID, "The group id is empty."
        if self.has_members(group_id):
            return E.NON_EMPTY_GROUP, f"Share group {group_id} is not empty."
        if group_id not in self.groups and self.other_group_type(group_id):
            return E.GROUP_ID_NOT_FOUND, f"Group {group_id} is not a share group."
        return None

    def delete_group(self, group_id: str) -> int:
        self.ready()
        group = self.groups.get(group_id)
        if group is None:
            return E.GROUP_ID_NOT_FOUND
        if group.members:
            return E.NON_EMPTY_GROUP
        try:
            self._forget(self._group_keys(group_id))
        except KafkaError as exc:
            return exc.code
        del self.groups[group_id]
        self._remember_groups()
        self._targets.pop(group_id, None)
        self._topics_seen.pop(group_id, None)
        log.info("deleted share group %s", group_id)
        return E.NONE

    def group_offsets(self, group_id: str) -> dict[tuple[bytes, int], SharePartitionState]:
        self.ready()
        return {(k[1], k[2]): self.partitions[k] for k in self._group_keys(group_id)}

    def alter_offset(self, group_id: str, topic_id: bytes, index: int, start_offset: int, partition: Any) -> int:
        """AlterShareGroupOffsets for one partition of an empty group."""
        key = (group_id, topic_id, index)
        state = self.partitions.get(key)
        if state is None:
            state = self._put(key, SharePartitionState(start_offset, leader_epoch=partition.leader_epoch))
        state.reset(start_offset)
        self._add_group(group_id)
        try:
            self.persist(key, state)
        except KafkaError as exc:
            return exc.code
        return E.NONE

    def delete_offsets(self, group_id: str, topic_id: bytes) -> list[int]:
        keys = [k for k in self._group_keys(group_id) if k[1] == topic_id]
        self._forget(keys)
        return sorted(k[2] for k in keys)


def _hb_error(code: int, message: str) -> dict:
    return {"error_code": code, "error_message": message, "member_id": None, "member_epoch": 0,
            "heartbeat_interval_ms": 0}


def share_coordinator(broker: Any) -> ShareCoordinator:
    return per_broker(broker, "share_coordinator", ShareCoordinator)
