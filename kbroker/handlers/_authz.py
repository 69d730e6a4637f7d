"""Authorization checks for the handlers: the broker's authorizer (kbroker.security) asked about the request's
principal and client host. Without an authorizer every check passes, as in Kafka."""
from __future__ import annotations

from kbroker.security.acl import CLUSTER_NAME, Operation, ResourceType
from kbroker.server.context import RequestContext

__all__ = ["Operation", "ResourceType", "allowed", "allowed_cluster", "authorized_ops", "enabled"]


def enabled(ctx: RequestContext) -> bool:
    return ctx.broker.security.authorizer is not None


def allowed(ctx: RequestContext, operation: Operation, resource_type: ResourceType, name: str) -> bool:
    authorizer = ctx.broker.security.authorizer
    if authorizer is None:
        return True
    return authorizer.authorize(ctx.principal, ctx.client_host, operation, resource_type, name)


def allowed_cluster(ctx: RequestContext, operation: Operation) -> bool:
    return allowed(ctx, operation, ResourceType.CLUSTER, CLUSTER_NAME)


def allowed_any(ctx: RequestContext, operation: Operation, resource_type: ResourceType) -> bool:
    authorizer = ctx.broker.security.authorizer
    if authorizer is None:
        return True
    return authorizer.authorize_by_type(ctx.principal, ctx.client_host, operation, resource_type)


def authorized_ops(ctx: RequestContext, resource_type: ResourceType, name: str) -> int:
    """Kafka's authorized-operations bit field; without an authorizer, every operation the resource supports."""
    from kbroker.security.acl import SUPPORTED_OPERATIONS
    authorizer = ctx.broker.security.authorizer
    if authorizer is None:
        return sum(1 << int(op) for op in SUPPORTED_OPERATIONS.get(resource_type, ()))
    return authorizer.authorized_operations(ctx.principal, ctx.client_host, resource_type, name)


# DescribeConfigs / AlterConfigs resource types: topic 2, broker 4, broker logger 8, group 32 (client metrics 16
# and others need the cluster too)
_CONFIG_RESOURCES = {2: (ResourceType.TOPIC, "TOPIC_AUTHORIZATION_FAILED"),
                     32: (ResourceType.GROUP, "GROUP_AUTHORIZATION_FAILED")}


def config_resource_error(ctx: RequestContext, operation: Operation, resource_type: int, name: str) -> int | None:
    """Kafka's check for a config resource: `operation` (DESCRIBE_CONFIGS / ALTER_CONFIGS) on the topic or group,
    on the cluster for anything else; the error code when denied."""
    from wire.errors import ErrorCode
    kind, error = _CONFIG_RESOURCES.get(resource_type, (ResourceType.CLUSTER, "CLUSTER_AUTHORIZATION_FAILED"))
    target = CLUSTER_NAME if kind == ResourceType.CLUSTER else name
    return None if allowed(ctx, operation, kind, target) else int(getattr(ErrorCode, error))
