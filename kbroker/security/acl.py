"""ACL bindings and filters with Kafka's codes and matching rules (org.apache.kafka.common.acl / resource)."""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from kbroker.security.principal import parse_principal

WILDCARD = "*"
WILDCARD_PRINCIPAL = "User:*"


class ResourceType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


class PatternType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    UNKNOWN = 0
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14
    TWO_PHASE_COMMIT = 15


class Permission(IntEnum):
    UNKNOWN = 0
    ANY = 1
    DENY = 2
    ALLOW = 3


CLUSTER_NAME = "kafka-cluster"

# an ALLOW of the key implies an ALLOW of these (Kafka's AclEntry / StandardAuthorizerData)
IMPLIED_BY_ALLOW = {Operation.DESCRIBE: {Operation.READ, Operation.WRITE, Operation.DELETE, Operation.ALTER},
                    Operation.DESCRIBE_CONFIGS: {Operation.ALTER_CONFIGS}}

# operations that mean something for each resource type (AclEntry.supportedOperations)
SUPPORTED_OPERATIONS = {
    ResourceType.TOPIC: {Operation.READ, Operation.WRITE, Operation.CREATE, Operation.DESCRIBE, Operation.DELETE,
                         Operation.ALTER, Operation.DESCRIBE_CONFIGS, Operation.ALTER_CONFIGS},
    ResourceType.GROUP: {Operation.READ, Operation.DESCRIBE, Operation.DELETE, Operation.DESCRIBE_CONFIGS,
                         Operation.ALTER_CONFIGS},
    ResourceType.CLUSTER: {Operation.CREATE, Operation.CLUSTER_ACTION, Operation.DESCRIBE_CONFIGS,
                           Operation.ALTER_CONFIGS, Operation.IDEMPOTENT_WRITE, Operation.ALTER, Operation.DESCRIBE},
    ResourceType.TRANSACTIONAL_ID: {Operation.DESCRIBE, Operation.WRITE, Operation.TWO_PHASE_COMMIT},
    ResourceType.DELEGATION_TOKEN: {Operation.DESCRIBE},
    ResourceType.USER: {Operation.CREATE_TOKENS, Operation.DESCRIBE_TOKENS},
}


@dataclass(frozen=True)
class AclBinding:
    resource_type: ResourceType
    name: str
    pattern_type: PatternType
    principal: str
    host: str
    operation: Operation
    permission: Permission

    def to_json(self) -> dict:
        return {"resource_type": int(self.resource_type), "name": self.name, "pattern_type": int(self.pattern_type),
                "principal": self.principal, "host": self.host, "operation": int(self.operation),
                "permission": int(self.permission)}

    @classmethod
    def from_json(cls, obj: dict) -> "AclBinding":
        return cls(ResourceType(obj["resource_type"]), obj["name"], PatternType(obj["pattern_type"]),
                   obj["principal"], obj["host"], Operation(obj["operation"]), Permission(obj["permission"]))

    def matches_resource(self, resource_type: ResourceType, name: str) -> bool:
        """Does this ACL's pattern cover the resource (StandardAuthorizer: literal, wildcard or prefix)?"""
        if self.resource_type != resource_type:
            return False
        if self.pattern_type == PatternType.LITERAL:
            return self.name == name or self.name == WILDCARD
        if self.pattern_type == PatternType.PREFIXED:
            return name.startswith(self.name)
        return False


@dataclass(frozen=True)
class AclFilter:
    """A DescribeAcls / DeleteAcls filter; None fields match anything."""
    resource_type: ResourceType = ResourceType.ANY
    name: str | None = None
    pattern_type: PatternType = PatternType.ANY
    principal: str | None = None
    host: str | None = None
    operation: Operation = Operation.ANY
    permission: Permission = Permission.ANY

    def matches(self, acl: AclBinding) -> bool:
        if self.resource_type != ResourceType.ANY and self.resource_type != acl.resource_type:
            return False
        if not self._matches_pattern(acl):
            return False
        if self.principal is not None and self.principal != acl.principal:
            return False
        if self.host is not None and self.host != acl.host:
            return False
        if self.operation != Operation.ANY and self.operation != acl.operation:
            return False
        return self.permission == Permission.ANY or self.permission == acl.permission

    def _matches_pattern(self, acl: AclBinding) -> bool:
        # ResourcePatternFilter.matches
        if self.pattern_type in (PatternType.LITERAL, PatternType.PREFIXED):
            return acl.pattern_type == self.pattern_type and (self.name is None or self.name == acl.name)
        if self.pattern_type == PatternType.ANY:
            return self.name is None or self.name == acl.name
        if self.pattern_type == PatternType.MATCH:
            if self.name is None:
                return True
            if acl.pattern_type == PatternType.LITERAL:
                return acl.name == self.name or acl.name == WILDCARD
            if acl.pattern_type == PatternType.PREFIXED:
                return self.name.startswith(acl.name)
            return False
        return False


def creation_problem(acl: AclBinding) -> str | None:
    """Why Kafka refuses to create this binding (INVALID_REQUEST), or None."""
    if acl.resource_type in (ResourceType.ANY, ResourceType.UNKNOWN):
        return "Invalid resource type: " + acl.resource_type.name
    if acl.pattern_type not in (PatternType.LITERAL, PatternType.PREFIXED):
        return "Invalid pattern type: " + acl.pattern_type.name
    if acl.operation in (Operation.ANY, Operation.UNKNOWN):
        return "Invalid operation: " + acl.operation.name
    if acl.permission not in (Permission.ALLOW, Permission.DENY):
        return "Invalid permission type: " + acl.permission.name
    if not acl.name:
        return "Resource name should not be empty"
    if acl.resource_type == ResourceType.CLUSTER and acl.name != CLUSTER_NAME:
        return "The only valid name for the CLUSTER resource is " + CLUSTER_NAME
    if acl.pattern_type == PatternType.PREFIXED and acl.name == WILDCARD:
        return "Prefixed ACL with wildcard name is invalid"
    if acl.operation != Operation.ALL and acl.operation not in SUPPORTED_OPERATIONS.get(acl.resource_type, set()):
        return f"ACL operation {acl.operation.name} is not valid for resource type {acl.resource_type.name}"
    try:
        parse_principal(acl.principal)
    except ValueError as exc:
        return str(exc)
    if not acl.host:
        return "Host should not be empty"
    return None
