"""Where ACLs live, behind a small interface so the cluster metadata layer can hold them later: in memory, or in
a JSON file (`acls.json` beside topics.json, replaced atomically)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Protocol

from kbroker.security.acl import AclBinding


class AclStore(Protocol):
    def all(self) -> list[AclBinding]: ...
    def add(self, acls: Iterable[AclBinding]) -> None: ...
    def remove(self, acls: Iterable[AclBinding]) -> None: ...


class MemoryAclStore:
    def __init__(self, acls: Iterable[AclBinding] = ()) -> None:
        self._acls: dict[AclBinding, None] = dict.fromkeys(acls)

    def all(self) -> list[AclBinding]:
        return list(self._acls)

    def add(self, acls: Iterable[AclBinding]) -> None:
        for acl in acls:
            self._acls[acl] = None
        self._changed()

    def remove(self, acls: Iterable[AclBinding]) -> None:
        for acl in acls:
            self._acls.pop(acl, None)
        self._changed()

    def _changed(self) -> None:
        pass


class FileAclStore(MemoryAclStore):
    def __init__(self, path: Path) -> None:
        self.path = path
        acls: list[AclBinding] = []
        if path.exists():
            acls = [AclBinding.from_json(o) for o in json.loads(path.read_text()).get("acls", [])]
        super().__init__(acls)

    def _changed(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as fh:
            json.dump({"acls": [a.to_json() for a in self.all()]}, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
