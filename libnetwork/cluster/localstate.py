"""What one node keeps on its own disk about its swarm: who it is, where the managers are, its credentials.

This is what lets a node killed with -9 come back into its cluster with no
token: at start cnmd reads it, presents the stored certificate and finds or
restarts its etcd and Serf children.  Everything lives under
``<data-root>/swarm`` (dockerd keeps its own there too), written atomically
and readable by root only, since it holds the node key, the Serf RPC secret
and on managers the CA key.  Leaving the swarm removes the whole directory,
so a refused or undone join leaves nothing behind either.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from .ids import Role

STATE_FILE = "state.json"
CERT_DIR = "certificates"
# dockerd's file names, so a person who knows swarm finds them
ROOT_CA_CERT = "swarm-root-ca.crt"
ROOT_CA_KEY = "swarm-root-ca.key"
NODE_CERT = "swarm-node.crt"
NODE_KEY = "swarm-node.key"


@dataclass(frozen=True)
class RemoteManager:
    node_id: str
    addr: str  # host:port of its cluster port


@dataclass(frozen=True)
class NodeState:
    node_id: str
    cluster_id: str
    role: Role
    advertise_addr: str
    """The IP the node tells the others to reach it at (etcd peers, Serf, the cluster port)."""
    listen_addr: str
    """host:port the cluster port binds."""
    data_path_addr: str
    data_path_port: int
    serf_rpc_auth: str
    remote_managers: tuple[RemoteManager, ...] = ()
    etcd_cluster_token: str = ""
    listen_port: int = 2377

    @property
    def advertise_endpoint(self) -> str:
        return f"{self.advertise_addr}:{self.listen_port}"

    def to_json(self) -> str:
        data = asdict(self)
        data["role"] = self.role.value
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> NodeState:
        data = json.loads(text)
        data["role"] = Role(data["role"])
        data["remote_managers"] = tuple(RemoteManager(**m) for m in data.get("remote_managers", ()))
        return cls(**data)


class LocalState:
    """The node's swarm directory."""

    def __init__(self, data_root: str):
        self.root = Path(data_root) / "swarm"
        self.certs = self.root / CERT_DIR

    def path(self, name: str) -> Path:
        return self.certs / name

    @property
    def etcd_dir(self) -> str:
        return str(self.root / "etcd")

    @property
    def serf_dir(self) -> str:
        return str(self.root / "serf")

    def load(self) -> NodeState | None:
        try:
            return NodeState.from_json((self.root / STATE_FILE).read_text())
        except FileNotFoundError:
            return None

    def save(self, state: NodeState) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_atomic(self.root / STATE_FILE, state.to_json().encode(), private=True)

    def write_credentials(self, *, ca_cert: bytes, node_cert: bytes, node_key: bytes,
                          ca_key: bytes | None) -> None:
        self.certs.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_atomic(self.path(ROOT_CA_CERT), ca_cert, private=False)
        _write_atomic(self.path(NODE_CERT), node_cert, private=False)
        _write_atomic(self.path(NODE_KEY), node_key, private=True)
        key_path = self.path(ROOT_CA_KEY)
        if ca_key is not None:
            _write_atomic(key_path, ca_key, private=True)
        elif key_path.exists():
            key_path.unlink()  # a demoted manager no longer signs

    def read(self, name: str) -> bytes | None:
        try:
            return self.path(name).read_bytes()
        except FileNotFoundError:
            return None

    def wipe(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _write_atomic(path: Path, data: bytes, *, private: bool) -> None:
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
