"""One module per API, each declaring KEY, MIN, MAX and `async def handle(ctx, request)`.

The table built here serves both dispatch and the ApiVersions answer, so what is advertised is exactly what is
handled. A handler returns the response body as a dict (fields it leaves out take their schema defaults), or
None when the request gets no response (Produce with acks=0).

`HANDLERS` indexes the modules (key: module, MIN, MAX) so that a starting broker answers ApiVersions without
importing fifty handler modules: a module is imported when its API is first requested. Adding an API is adding
its module and its line here; tests/ci/test_handler_registry.py checks the index against the modules' own
KEY, MIN and MAX and the schema's version ranges.
"""
from __future__ import annotations

import importlib
from typing import Any, Awaitable, Callable

from wire.schema import APIS

Handler = Callable[[Any, Any], Awaitable[dict | None]]

HANDLERS: dict[int, tuple[str, int, int]] = {
    0: ("produce", 0, 13), 1: ("fetch", 0, 18), 2: ("list_offsets", 0, 10), 3: ("metadata", 0, 13),
    8: ("offset_commit", 0, 9), 9: ("offset_fetch", 0, 9), 10: ("find_coordinator", 0, 6), 11: ("join_group", 0, 9),
    12: ("heartbeat", 0, 4), 13: ("leave_group", 0, 5), 14: ("sync_group", 0, 5), 15: ("describe_groups", 0, 6),
    16: ("list_groups", 0, 5), 17: ("sasl_handshake", 0, 1), 18: ("api_versions", 0, 4),
    19: ("create_topics", 0, 7), 20: ("delete_topics", 0, 6), 21: ("delete_records", 0, 2),
    22: ("init_producer_id", 0, 5), 23: ("offset_for_leader_epoch", 0, 4), 24: ("add_partitions_to_txn", 0, 5),
    25: ("add_offsets_to_txn", 0, 4), 26: ("end_txn", 0, 5), 27: ("write_txn_markers", 1, 1),
    28: ("txn_offset_commit", 0, 5), 29: ("describe_acls", 0, 3), 30: ("create_acls", 0, 3),
    31: ("delete_acls", 0, 3), 32: ("describe_configs", 0, 4), 33: ("alter_configs", 0, 2),
    35: ("describe_log_dirs", 0, 4), 36: ("sasl_authenticate", 0, 2), 37: ("create_partitions", 0, 3),
    42: ("delete_groups", 0, 2), 43: ("elect_leaders", 0, 2), 44: ("incremental_alter_configs", 0, 1),
    45: ("alter_partition_reassignments", 0, 1), 46: ("list_partition_reassignments", 0, 0),
    47: ("offset_delete", 0, 0), 48: ("describe_client_quotas", 0, 1), 49: ("alter_client_quotas", 0, 1),
    50: ("describe_user_scram_credentials", 0, 0), 51: ("alter_user_scram_credentials", 0, 0),
    60: ("describe_cluster", 0, 2), 61: ("describe_producers", 0, 0), 65: ("describe_transactions", 0, 0),
    66: ("list_transactions", 0, 2), 68: ("consumer_group_heartbeat", 0, 1), 69: ("consumer_group_describe", 0, 1),
    75: ("describe_topic_partitions", 0, 0),
    34: ("alter_replica_log_dirs", 1, 2),
    55: ("describe_quorum", 0, 2),
    57: ("update_features", 0, 2),
    64: ("unregister_broker", 0, 0),
    71: ("get_telemetry_subscriptions", 0, 0),
    72: ("push_telemetry", 0, 0),
    74: ("list_config_resources", 0, 1),
    76: ("share_group_heartbeat", 1, 1),
    77: ("share_group_describe", 1, 1),
    78: ("share_fetch", 1, 2),
    79: ("share_acknowledge", 1, 2),
    90: ("describe_share_group_offsets", 0, 0),
    91: ("alter_share_group_offsets", 0, 0),
    92: ("delete_share_group_offsets", 0, 0),
}


class Entry:
    """One API as dispatch sees it; the handler module is imported on first use."""

    __slots__ = ("key", "min_version", "max_version", "module", "_handle")

    def __init__(self, key: int, module: str, min_version: int, max_version: int) -> None:
        self.key = key
        self.module = module
        self.min_version = min_version
        self.max_version = max_version
        self._handle: Handler | None = None

    @property
    def handle(self) -> Handler:
        handle = self._handle
        if handle is None:
            handle = self._handle = load(self.module).handle
        return handle

    @property
    def name(self) -> str:
        return APIS[self.key].name


def load(module: str) -> Any:
    return importlib.import_module(f"{__name__}.{module}")


REGISTRY: dict[int, Entry] = {key: Entry(key, module, lo, hi) for key, (module, lo, hi) in HANDLERS.items()}
