"""The cluster's global records, as they live in etcd under the store contract.

Two kinds for now: the cluster itself (one record: its spec, join tokens,
root CA, address pools) and its nodes.  A record's ``Version.Index`` in
Docker's API is the etcd ``mod_revision`` of its key, so "update out of
sequence" is a lost compare-and-swap and needs no counter of our own.  Node
IDs of removed nodes are kept under ``removed/`` (swarmkit's certificate
blacklist): the cluster port refuses their certificates from then on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

CLUSTER_KEY = "cluster/default"
NODE_PREFIX = "nodes/"
REMOVED_PREFIX = "removed/"

DEFAULT_DATA_PATH_PORT = 4789
DEFAULT_SUBNET_SIZE = 24
NODE_CERT_EXPIRY_NS = 7_776_000_000_000_000  # 90 days, swarmkit's default
HEARTBEAT_PERIOD_NS = 5_000_000_000


def node_key(node_id: str) -> str:
    return f"{NODE_PREFIX}{node_id}"


def removed_key(node_id: str) -> str:
    return f"{REMOVED_PREFIX}{node_id}"


def now_text() -> str:
    """Docker's timestamps: RFC 3339 with nanoseconds, in UTC."""
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}000Z"


def default_spec() -> dict[str, Any]:
    """The spec swarmkit fills in at init, as ``GET /swarm`` shows it."""
    return {
        "Name": "default",
        "Labels": {},
        "Orchestration": {"TaskHistoryRetentionLimit": 5},
        "Raft": {"SnapshotInterval": 10000, "KeepOldSnapshots": 0, "LogEntriesForSlowFollowers": 500,
                 "ElectionTick": 10, "HeartbeatTick": 1},
        "Dispatcher": {"HeartbeatPeriod": HEARTBEAT_PERIOD_NS},
        "CAConfig": {"NodeCertExpiry": NODE_CERT_EXPIRY_NS},
        "TaskDefaults": {},
        "EncryptionConfig": {"AutoLockManagers": False},
    }


def merge_spec(current: dict[str, Any], given: dict[str, Any] | None) -> dict[str, Any]:
    """A spec from a request over the current one: zero values keep what is there, as swarmkit's defaults do."""
    merged = {key: (dict(value) if isinstance(value, dict) else value) for key, value in current.items()}
    for key, value in (given or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            for inner, inner_value in value.items():
                if inner_value not in (0, None, "") or inner == "AutoLockManagers":
                    merged[key][inner] = inner_value
        elif key == "Labels":
            merged[key] = dict(value or {})
        elif value not in (None, ""):
            merged[key] = value
    return merged


class ClusterRecord(msgspec.Struct, kw_only=True):
    id: str
    created_at: str
    updated_at: str
    spec: dict[str, Any]
    worker_token: str
    manager_token: str
    root_ca: str
    default_addr_pool: list[str] | None = None
    subnet_size: int = DEFAULT_SUBNET_SIZE
    data_path_port: int = DEFAULT_DATA_PATH_PORT


class NodeRecord(msgspec.Struct, kw_only=True):
    id: str
    hostname: str
    role: str  # the desired role, "worker" or "manager"
    availability: str = "active"
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    addr: str
    """The node's advertise address (Status.Addr)."""
    manager_addr: str = ""
    """host:port of its cluster port while it is a manager."""
    created_at: str
    updated_at: str
    engine_version: str = ""
    architecture: str = ""
    os: str = "linux"
    nano_cpus: int = 0
    memory_bytes: int = 0
    etcd_member_id: int = 0


def encode(record: msgspec.Struct) -> bytes:
    return msgspec.json.encode(record)


def decode_cluster(data: bytes) -> ClusterRecord:
    return msgspec.json.decode(data, type=ClusterRecord)


def decode_node(data: bytes) -> NodeRecord:
    return msgspec.json.decode(data, type=NodeRecord)
