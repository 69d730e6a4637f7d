"""The authorizer's StandardAuthorizer semantics and ACL filters."""
from __future__ import annotations

import pytest

from kbroker.security.acl import (AclBinding, AclFilter, Operation as Op, PatternType as PT, Permission,
                                  ResourceType as RT, creation_problem)
from kbroker.security.acl_store import FileAclStore
from kbroker.security.authorizer import Authorizer, parse_super_users

ALICE, BOB = "User:alice", "User:bob"


def acl(rt=RT.TOPIC, name="a", pt=PT.LITERAL, principal=ALICE, host="*", op=Op.WRITE, perm=Permission.ALLOW):
    return AclBinding(rt, name, pt, principal, host, op, perm)


def authz(*acls, **kw) -> Authorizer:
    a = Authorizer(**kw)
    a.create(acls)
    return a


def test_issue_scenario_write_a_read_group_g():
    a = authz(acl(name="A", op=Op.WRITE), acl(RT.GROUP, "G", op=Op.READ), acl(name="A", op=Op.READ))
    assert a.authorize(ALICE, "1.2.3.4", Op.WRITE, RT.TOPIC, "A")
    assert not a.authorize(ALICE, "1.2.3.4", Op.WRITE, RT.TOPIC, "B")
    assert a.authorize(ALICE, "1.2.3.4", Op.READ, RT.GROUP, "G")
    assert not a.authorize(ALICE, "1.2.3.4", Op.READ, RT.GROUP, "H")
    assert not a.authorize(BOB, "1.2.3.4", Op.WRITE, RT.TOPIC, "A")


def test_implied_operations():
    a = authz(acl(op=Op.READ), acl(name="c", op=Op.ALTER_CONFIGS))
    assert a.authorize(ALICE, "h", Op.DESCRIBE, RT.TOPIC, "a")
    assert not a.authorize(ALICE, "h", Op.WRITE, RT.TOPIC, "a")
    assert a.authorize(ALICE, "h", Op.DESCRIBE_CONFIGS, RT.TOPIC, "c")
    assert not a.authorize(ALICE, "h", Op.DESCRIBE, RT.TOPIC, "c")
    # ALL allows everything; a DENY never implies
    a = authz(acl(op=Op.ALL), acl(op=Op.READ, perm=Permission.DENY))
    assert a.authorize(ALICE, "h", Op.DESCRIBE, RT.TOPIC, "a")
    assert not a.authorize(ALICE, "h", Op.READ, RT.TOPIC, "a")


def test_deny_wins_over_allow_including_prefixed_and_wildcards():
    a = authz(acl(name="orders-", pt=PT.PREFIXED, op=Op.ALL),
              acl(name="orders-secret", op=Op.WRITE, perm=Permission.DENY, principal="User:*"))
    assert a.authorize(ALICE, "h", Op.WRITE, RT.TOPIC, "orders-eu")
    assert not a.authorize(ALICE, "h", Op.WRITE, RT.TOPIC, "orders-secret")
    assert a.authorize(ALICE, "h", Op.READ, RT.TOPIC, "orders-secret")
    assert not a.authorize(ALICE, "h", Op.WRITE, RT.TOPIC, "order")


def test_wildcard_resource_and_principal():
    a = authz(acl(name="*", principal="User:*", op=Op.READ))
    assert a.authorize(BOB, "h", Op.READ, RT.TOPIC, "anything")
    assert not a.authorize(BOB, "h", Op.READ, RT.GROUP, "anything")


def test_host_matching():
    a = authz(acl(host="10.0.0.1"))
    assert a.authorize(ALICE, "10.0.0.1", Op.WRITE, RT.TOPIC, "a")
    assert not a.authorize(ALICE, "10.0.0.2", Op.WRITE, RT.TOPIC, "a")


def test_super_users_and_allow_everyone_if_no_acl():
    a = authz(acl(), super_users=parse_super_users("User:admin; User:ANONYMOUS"))
    assert a.super_users == {"User:admin", "User:ANONYMOUS"}
    assert a.authorize("User:admin", "h", Op.DELETE, RT.TOPIC, "a")
    assert not a.authorize(BOB, "h", Op.READ, RT.TOPIC, "free")
    a = authz(acl(), allow_if_no_acl=True)
    assert a.authorize(BOB, "h", Op.READ, RT.TOPIC, "free")  # no ACL on "free"
    assert not a.authorize(BOB, "h", Op.WRITE, RT.TOPIC, "a")  # ACLs exist on "a", none for bob


def test_transactional_id_and_by_type():
    a = authz(acl(RT.TRANSACTIONAL_ID, "tx-", PT.PREFIXED, op=Op.WRITE))
    assert a.authorize(ALICE, "h", Op.WRITE, RT.TRANSACTIONAL_ID, "tx-1")
    assert a.authorize(ALICE, "h", Op.DESCRIBE, RT.TRANSACTIONAL_ID, "tx-1")
    assert not a.authorize(ALICE, "h", Op.WRITE, RT.TRANSACTIONAL_ID, "other")
    assert a.authorize_by_type(ALICE, "h", Op.WRITE, RT.TRANSACTIONAL_ID)
    assert not a.authorize_by_type(BOB, "h", Op.WRITE, RT.TRANSACTIONAL_ID)
    a.create([acl(RT.TRANSACTIONAL_ID, "tx", PT.PREFIXED, op=Op.WRITE, perm=Permission.DENY)])
    assert not a.authorize_by_type(ALICE, "h", Op.WRITE, RT.TRANSACTIONAL_ID)


def test_authorized_operations_bits():
    a = authz(acl(op=Op.READ))
    bits = a.authorized_operations(ALICE, "h", RT.TOPIC, "a")
    assert bits == (1 << Op.READ) | (1 << Op.DESCRIBE)


def test_filters_any_match_literal_prefixed():
    lit, pre, star = acl(name="foo"), acl(name="fo", pt=PT.PREFIXED), acl(name="*")
    other = acl(RT.GROUP, "foo")
    a = authz(lit, pre, star, other)
    assert set(a.describe(AclFilter())) == {lit, pre, star, other}
    assert set(a.describe(AclFilter(RT.TOPIC, "foo", PT.MATCH))) == {lit, pre, star}
    assert set(a.describe(AclFilter(RT.TOPIC, "foo", PT.ANY))) == {lit}
    assert set(a.describe(AclFilter(RT.ANY, "foo", PT.LITERAL))) == {lit, other}
    assert set(a.describe(AclFilter(RT.TOPIC, None, PT.PREFIXED))) == {pre}
    assert a.describe(AclFilter(principal=BOB)) == []
    assert a.delete(AclFilter(RT.TOPIC, "foo", PT.MATCH, operation=Op.WRITE)) and \
        a.describe(AclFilter()) == [other]


@pytest.mark.parametrize("binding", [
    acl(rt=RT.ANY), acl(pt=PT.MATCH), acl(op=Op.ANY), acl(perm=Permission.ANY), acl(name=""),
    acl(RT.CLUSTER, "other", op=Op.ALTER), acl(name="*", pt=PT.PREFIXED), acl(principal="alice"),
    acl(RT.GROUP, "g", op=Op.WRITE),
])
def test_creation_validation(binding):
    assert creation_problem(binding)


def test_valid_creation():
    assert creation_problem(acl(RT.CLUSTER, "kafka-cluster", op=Op.IDEMPOTENT_WRITE)) is None


def test_file_store_persists(tmp_path):
    a = Authorizer(FileAclStore(tmp_path / "acls.json"))
    a.create([acl(), acl(RT.GROUP, "g", op=Op.READ, perm=Permission.DENY)])
    b = Authorizer(FileAclStore(tmp_path / "acls.json"))
    assert set(b.describe(AclFilter())) == {acl(), acl(RT.GROUP, "g", op=Op.READ, perm=Permission.DENY)}
    b.delete(AclFilter(RT.GROUP))
    assert Authorizer(FileAclStore(tmp_path / "acls.json")).describe(AclFilter()) == [acl()]
