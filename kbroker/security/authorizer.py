"""Kafka's StandardAuthorizer semantics over an AclStore.

A request (principal, host, operation, resource) is allowed when the principal is a super user; else DENY ACLs that
match principal (or User:*), host (or *) and operation (or ALL) win; else an ALLOW ACL that matches, where an ALLOW
of READ/WRITE/DELETE/ALTER also allows DESCRIBE and ALTER_CONFIGS allows DESCRIBE_CONFIGS; else, when no ACL at all
covers the resource, `allow.everyone.if.no.acl.found` decides.
"""
from __future__ import annotations

from typing import Iterable

from kbroker.security.acl import (IMPLIED_BY_ALLOW, SUPPORTED_OPERATIONS, WILDCARD, WILDCARD_PRINCIPAL,
                                  AclBinding, AclFilter, Operation, PatternType, Permission, ResourceType)
from kbroker.security.acl_store import AclStore, MemoryAclStore

# Kafka's authorizer class names; any of them switches authorization on
AUTHORIZER_CLASSES = frozenset({
    "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "kafka.security.authorizer.AclAuthorizer",
    "kafka.security.auth.SimpleAclAuthorizer",
})


def parse_super_users(value: str | None) -> frozenset[str]:
    """`super.users` is a semicolon-separated list of principals."""
    return frozenset(p.strip() for p in (value or "").split(";") if p.strip())


class Authorizer:
    def __init__(self, store: AclStore | None = None, super_users: Iterable[str] = (),
                 allow_if_no_acl: bool = False) -> None:
        self.store: AclStore = store if store is not None else MemoryAclStore()
        self.super_users = frozenset(super_users)
        self.allow_if_no_acl = allow_if_no_acl

    def authorize(self, principal: str, host: str, operation: Operation, resource_type: ResourceType,
                  name: str) -> bool:
        if principal in self.super_users:
            return True
        found = False
        allowed = False
        for acl in self.store.all():
            if not acl.matches_resource(resource_type, name):
                continue
            found = True
            if not _matches_who(acl, principal, host):
                continue
            if acl.permission == Permission.DENY:
                if acl.operation in (Operation.ALL, operation):
                    return False
            elif acl.permission == Permission.ALLOW and _allow_covers(acl.operation, operation):
                allowed = True
        if allowed:
            return True
        return not found and self.allow_if_no_acl

    def authorize_by_type(self, principal: str, host: str, operation: Operation,
                          resource_type: ResourceType) -> bool:
        """Is the principal allowed `operation` on at least one resource of the type (Kafka's
        authorizeByResourceType, used e.g. for IDEMPOTENT_WRITE via any transactional id or topic)?"""
        if principal in self.super_users:
            return True
        acls = [a for a in self.store.all() if a.resource_type == resource_type and _matches_who(a, principal, host)]
        denied = [a for a in acls if a.permission == Permission.DENY and a.operation in (Operation.ALL, operation)]
        if any(a.pattern_type == PatternType.LITERAL and a.name == WILDCARD for a in denied):
            return False
        for a in acls:
            if a.permission != Permission.ALLOW or not _allow_covers(a.operation, operation):
                continue
            if not any(_covers(d, a) for d in denied):
                return True
        if self.allow_if_no_acl:
            return not any(a.resource_type == resource_type for a in self.store.all())
        return False

    def authorized_operations(self, principal: str, host: str, resource_type: ResourceType, name: str) -> int:
        """The bit field Metadata / DescribeGroups / DescribeCluster return (bit n = operation code n)."""
        bits = 0
        for op in SUPPORTED_OPERATIONS.get(resource_type, set()):
            if self.authorize(principal, host, op, resource_type, name):
                bits |= 1 << int(op)
        return bits

    # -- administration

    def describe(self, flt: AclFilter) -> list[AclBinding]:
        return [a for a in self.store.all() if flt.matches(a)]

    def create(self, acls: Iterable[AclBinding]) -> None:
        self.store.add(acls)

    def delete(self, flt: AclFilter) -> list[AclBinding]:
        matched = self.describe(flt)
        if matched:
            self.store.remove(matched)
        return matched


def _matches_who(acl: AclBinding, principal: str, host: str) -> bool:
    return acl.principal in (principal, WILDCARD_PRINCIPAL) and acl.host in (host, WILDCARD)


def _allow_covers(acl_op: Operation, wanted: Operation) -> bool:
    return acl_op in (Operation.ALL, wanted) or acl_op in IMPLIED_BY_ALLOW.get(wanted, ())


def _covers(deny: AclBinding, allow: AclBinding) -> bool:
    """Does the DENY cover every resource the ALLOW names?"""
    if deny.pattern_type == PatternType.LITERAL:
        return deny.name == WILDCARD or (allow.pattern_type == PatternType.LITERAL and deny.name == allow.name)
    return allow.name.startswith(deny.name)
