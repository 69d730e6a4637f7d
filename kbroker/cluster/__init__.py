"""Cluster coordination: the metadata store (ZooKeeper semantics, two backends), and above it the cluster's
metadata, the controller, the replica manager and the follower fetchers (docs/replication.md).

Layering inside this package (imports point downward):
    store.py           the coordination primitive: znodes, versions, ephemerals, one-shot watches, multi-ops
    memory_store.py    backend 1: in-process (`kbroker serve` alone, `kbroker cluster --brokers N`, tests)
    zk_store.py        backend 2: ZooKeeper through kazoo (`zookeeper.connect`)
    paths.py           Kafka's ZooKeeper-era znode layout and JSON bodies
    metadata.py        ClusterMetadata: one broker's cached, watch-driven view; the writes any broker makes
    assignment.py      replica assignment at topic creation (rack-aware)
    controller.py      the elected controller: partition states, leader elections, fenced writes
    elections.py       ElectLeaders (preferred, unclean)
    reassignment.py    AlterPartitionReassignments / ListPartitionReassignments
    partition_state.py one partition's leader/follower state: follower LEOs, HW, ISR candidates, acks waits
    client.py          an async inter-broker client on wire/'s codecs
    network.py         who may reach whom (in-process fault injection)
    fetcher.py         follower fetchers, one per source broker (truncation by leader epoch, then fetch)
    markers.py         transaction markers for partitions other brokers lead (WriteTxnMarkers)
    replica_manager.py makes the broker's partitions follow the metadata; the leader's ISR changes
    view.py            what handlers tell clients (brokers, leaders, ISR), leader checks, the acks=all wait
    metrics.py         replication metrics under Kafka's names
    node.py            a broker's membership: session, registration, metadata, controller, replicas
Nothing above store.py knows which backend it talks to.
"""
