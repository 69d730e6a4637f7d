"""CreateAcls / DescribeAcls / DeleteAcls through confluent-kafka's and kafka-python's admin clients, against a
broker with Kafka's StandardAuthorizer class name (the PLAINTEXT principal User:ANONYMOUS is a super user)."""
from __future__ import annotations

import pytest
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType, AdminClient,
                                   ResourcePatternType, ResourceType)

from kbroker.testing import KafkaBroker

AUTHZ = {"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
         "super.users": "User:ANONYMOUS", "allow.everyone.if.no.acl.found": "false"}


@pytest.fixture(scope="module")
def kafka():
    with KafkaBroker.start(config=AUTHZ) as k:
        yield k


def test_confluent_admin_create_describe_delete(kafka):
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    bindings = [
        AclBinding(ResourceType.TOPIC, "orders", ResourcePatternType.LITERAL, "User:alice", "*",
                   AclOperation.WRITE, AclPermissionType.ALLOW),
        AclBinding(ResourceType.TOPIC, "orders-", ResourcePatternType.PREFIXED, "User:bob", "10.0.0.1",
                   AclOperation.READ, AclPermissionType.DENY),
        AclBinding(ResourceType.GROUP, "g", ResourcePatternType.LITERAL, "User:alice", "*",
                   AclOperation.READ, AclPermissionType.ALLOW),
    ]
    for fut in admin.create_acls(bindings, request_timeout=15).values():
        assert fut.result(timeout=15) is None
    everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                                  AclOperation.ANY, AclPermissionType.ANY)
    assert set(admin.describe_acls(everything, request_timeout=15).result(timeout=15)) == set(bindings)
    match = AclBindingFilter(ResourceType.TOPIC, "orders-eu", ResourcePatternType.MATCH, None, None,
                             AclOperation.ANY, AclPermissionType.ANY)
    assert admin.describe_acls(match, request_timeout=15).result(timeout=15) == [bindings[1]]
    deleted = admin.delete_acls([AclBindingFilter(ResourceType.TOPIC, None, ResourcePatternType.ANY, None, None,
                                                  AclOperation.ANY, AclPermissionType.ANY)], request_timeout=15)
    assert set(next(iter(deleted.values())).result(timeout=15)) == set(bindings[:2])
    assert admin.describe_acls(everything, request_timeout=15).result(timeout=15) == [bindings[2]]


def test_confluent_admin_invalid_acl_is_refused(kafka):
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    bad = AclBinding(ResourceType.GROUP, "g", ResourcePatternType.LITERAL, "User:x", "*",
                     AclOperation.WRITE, AclPermissionType.ALLOW)  # WRITE is not a group operation
    with pytest.raises(Exception) as exc:
        next(iter(admin.create_acls([bad], request_timeout=15).values())).result(timeout=15)
    assert "INVALID_REQUEST" in str(exc.value) or "not valid" in str(exc.value)


def test_kafka_python_admin_acls(kafka):
    from kafka.admin import ACL, ACLFilter, ACLOperation, ACLPermissionType, KafkaAdminClient
    from kafka.admin import ACLResourcePatternType, ResourcePattern, ResourcePatternFilter
    from kafka.admin import ResourceType as KPResourceType
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap, request_timeout_ms=15000)
    try:
        acl = ACL("User:carol", "*", ACLOperation.DESCRIBE, ACLPermissionType.ALLOW,
                  ResourcePattern(KPResourceType.TOPIC, "kp", ACLResourcePatternType.LITERAL))
        result = admin.create_acls([acl])
        assert result["succeeded"] == [acl] and not result["failed"]
        flt = ACLFilter("User:carol", None, ACLOperation.ANY, ACLPermissionType.ANY,
                        ResourcePatternFilter(KPResourceType.ANY, None, ACLResourcePatternType.ANY))
        found, error = admin.describe_acls(flt)
        assert [(a.principal, a.operation, a.resource_pattern.resource_name) for a in found] == \
            [("User:carol", ACLOperation.DESCRIBE, "kp")]
        deleted = admin.delete_acls([flt])
        assert len(deleted[0][1]) == 1
    finally:
        admin.close()


def test_without_authorizer_security_disabled():
    with KafkaBroker.start() as k:
        wire = k.wire()
        answer = wire.request(29, 2, {"resource_type_filter": 1, "resource_name_filter": None,
                                      "pattern_type_filter": 1, "principal_filter": None, "host_filter": None,
                                      "operation": 1, "permission_type": 1})
        assert answer["error_code"] == 54  # SECURITY_DISABLED
