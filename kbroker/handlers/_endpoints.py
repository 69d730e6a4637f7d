"""The endpoints a client is told about: Kafka answers with the brokers' endpoints of the listener the client came
through. This broker's own endpoint is its advertised one for that listener; other brokers of a cluster are
listed as they registered (one endpoint each, for now)."""
from __future__ import annotations

from dataclasses import replace

from kbroker.cluster import view
from kbroker.server.context import RequestContext


def brokers(ctx: RequestContext) -> list[view.Node]:
    broker = ctx.broker
    nodes = view.brokers(broker)
    listener = ctx.auth.listener.name if ctx.auth is not None else None
    if not listener or listener not in broker.listener_endpoints:
        return nodes
    mine = broker.endpoint_for(listener)
    return [replace(n, host=mine.host, port=mine.port) if n.node_id == broker.node_id else n for n in nodes]


def node(ctx: RequestContext, node_id: int) -> view.Node | None:
    return next((n for n in brokers(ctx) if n.node_id == node_id), None)
