"""Group administration: ListGroups, DescribeGroups, DeleteGroups, and expiring a member on request (fault
injection, admin tools) — operations on whole groups rather than on one member's protocol.
"""
from __future__ import annotations

import logging
from typing import Iterable

from kbroker.coordinator.classic import ClassicGroup, ClassicState
from kbroker.coordinator.classic_rebalance import ClassicRebalance
from kbroker.coordinator.records import OffsetRecord, StoredRecord
from wire.errors import ErrorCode, KafkaError

log = logging.getLogger(__name__)

E = ErrorCode


class GroupAdmin(ClassicRebalance):
    """List, describe and delete groups; expire a member."""

    def expire_member(self, group_id: str, member_id: str) -> bool:
        """Treat a member as if its session had just expired (fault injection, admin tools); False if unknown."""
        if self._ready():
            return False
        group = self.groups.get(group_id)
        if isinstance(group, ClassicGroup):
            if member_id in group.pending_members:
                self._expire_heartbeat(group_id, member_id)
                return True
            if member_id not in group.members:
                return False
            log.info("expiring member %s of group %s on request", member_id, group_id)
            self._remove_member_and_update(group, member_id, "session expired (on request)")
            return True
        if group is not None:
            return self.consumer_groups.fence(group_id, member_id, "its session was expired on request")
        return False

    def list_groups(self, states: Iterable[str] = (), types: Iterable[str] = ()) -> tuple[int, list[dict]]:
        error = self._ready()
        if error:
            return error, []
        wanted_states = {s.strip().lower() for s in states}
        wanted_types = {t.strip().lower() for t in types}
        out = []
        for group_id, group in self.groups.items():
            if wanted_states and group.state_name.lower() not in wanted_states:
                continue
            if wanted_types and group.type_name not in wanted_types:
                continue
            out.append({"group_id": group_id, "protocol_type": group.protocol_type or "",
                        "group_state": group.state_name, "group_type": group.type_name})
        return E.NONE, out

    def describe_group(self, group_id: str, version: int) -> dict:
        error, group = self._lookup(group_id)
        if error:
            return {"group_id": group_id, "error_code": error, "group_state": "", "protocol_type": "",
                    "protocol_data": "", "members": []}
        if not isinstance(group, ClassicGroup) or group.is_in(ClassicState.DEAD):
            entry = {"group_id": group_id, "error_code": 0, "group_state": ClassicState.DEAD.value,
                     "protocol_type": "", "protocol_data": "", "members": []}
            if version >= 6:
                entry["error_code"] = E.GROUP_ID_NOT_FOUND
                entry["error_message"] = (f"Group {group_id} not found." if group is None
                                          else f"Group {group_id} is not a classic group.")
            return entry
        stable = group.is_in(ClassicState.STABLE)
        members = []
        for m in group.members.values():
            members.append({"member_id": m.member_id, "group_instance_id": m.group_instance_id,
                            "client_id": m.client_id, "client_host": m.client_host,
                            "member_metadata": m.metadata(group.protocol_name) if stable else b"",
                            "member_assignment": m.assignment})
        return {"group_id": group_id, "error_code": 0, "group_state": group.state_name,
                "protocol_type": group.protocol_type or "",
                "protocol_data": (group.protocol_name or "") if stable else "", "members": members}

    def delete_groups(self, group_ids: list[str]) -> list[tuple[str, int]]:
        error = self._ready()
        if error:
            return [(g, error) for g in group_ids]
        out = []
        for group_id in group_ids:
            if not group_id:
                out.append((group_id, E.INVALID_GROUP_ID))
                continue
            group = self.groups.get(group_id)
            if group is None or (isinstance(group, ClassicGroup) and group.is_in(ClassicState.DEAD)):
                out.append((group_id, E.GROUP_ID_NOT_FOUND))
                continue
            if not group.is_empty:
                out.append((group_id, E.NON_EMPTY_GROUP))
                continue
            records: list[StoredRecord] = [OffsetRecord(group_id, t, p, None) for (t, p) in self.offsets.get(group_id, {})]
            records.extend(self._group_tombstones(group))
            try:
                self._append(group_id, records)
            except KafkaError as exc:
                out.append((group_id, exc.code))
                continue
            self.offsets.pop(group_id, None)
            self._remove_group(group_id)
            log.info("deleted group %s", group_id)
            out.append((group_id, E.NONE))
        return out
