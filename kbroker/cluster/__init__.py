"""Cluster coordination: the metadata store (ZooKeeper semantics, two backends), and above it the cluster's
metadata, the controller, the replica manager and the follower fetchers.

Layering inside this package (imports point downward):
    store.py           the coordination primitive: znodes, versions, ephemerals, one-shot watches, multi-ops
    memory_store.py    backend 1: in-process (`kbroker serve` alone, `kbroker cluster --brokers N`, tests)
    zk_store.py        backend 2: ZooKeeper through kazoo (`zookeeper.connect`)
Nothing above store.py knows which backend it talks to.
"""
