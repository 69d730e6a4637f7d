"""Every API message described once: one module per API, each defining `API`.

`APIS` maps an API key to its description; a module is imported the first time its key is looked up, so that a
broker starting up reads only the schemas of the requests it is sent. `MODULES` is the index of key to module;
adding an API is adding a file and its line here (tests/wire/test_registry.py checks the index against the
modules).
"""
from __future__ import annotations

import importlib
from typing import Iterator, Mapping

from wire.schema.dsl import Api

MODULES: dict[int, str] = {
    0: "produce", 1: "fetch", 2: "list_offsets", 3: "metadata", 8: "offset_commit", 9: "offset_fetch",
    10: "find_coordinator", 11: "join_group", 12: "heartbeat", 13: "leave_group", 14: "sync_group",
    15: "describe_groups", 16: "list_groups", 17: "sasl_handshake", 18: "api_versions", 19: "create_topics",
    20: "delete_topics", 21: "delete_records", 22: "init_producer_id", 23: "offset_for_leader_epoch",
    24: "add_partitions_to_txn", 25: "add_offsets_to_txn", 26: "end_txn", 27: "write_txn_markers",
    28: "txn_offset_commit", 29: "describe_acls", 30: "create_acls", 31: "delete_acls", 32: "describe_configs",
    33: "alter_configs", 35: "describe_log_dirs", 36: "sasl_authenticate", 37: "create_partitions",
    42: "delete_groups", 43: "elect_leaders", 44: "incremental_alter_configs", 45: "alter_partition_reassignments",
    46: "list_partition_reassignments", 47: "offset_delete", 48: "describe_client_quotas",
    49: "alter_client_quotas", 50: "describe_user_scram_credentials", 51: "alter_user_scram_credentials",
    60: "describe_cluster", 61: "describe_producers", 65: "describe_transactions", 66: "list_transactions",
    68: "consumer_group_heartbeat", 69: "consumer_group_describe", 71: "get_telemetry_subscriptions",
    72: "push_telemetry", 75: "describe_topic_partitions",
    34: "alter_replica_log_dirs",
    55: "describe_quorum",
    57: "update_features",
    64: "unregister_broker",
    74: "list_config_resources",
    76: "share_group_heartbeat",
    77: "share_group_describe",
    78: "share_fetch",
    79: "share_acknowledge",
    90: "describe_share_group_offsets",
    91: "alter_share_group_offsets",
    92: "delete_share_group_offsets",
}


class _Registry(Mapping[int, Api]):
    """APIS: a read-only mapping that imports each API's schema module on first use."""

    def __init__(self) -> None:
        self._loaded: dict[int, Api] = {}

    def __getitem__(self, key: int) -> Api:
        try:
            return self._loaded[key]
        except KeyError:
            pass
        name = MODULES[key]  # KeyError: no such API
        desc = importlib.import_module(f"{__name__}.{name}").API
        if not isinstance(desc, Api) or desc.key != key:
            raise RuntimeError(f"wire.schema.{name} does not describe API key {key}")
        self._loaded[key] = desc
        return desc

    def __contains__(self, key: object) -> bool:
        return key in MODULES

    def __iter__(self) -> Iterator[int]:
        return iter(MODULES)

    def __len__(self) -> int:
        return len(MODULES)


APIS: Mapping[int, Api] = _Registry()
