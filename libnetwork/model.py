"""The records the controller keeps and persists: networks, endpoints, sandboxes.

Plain mutable dataclasses, serialised as JSON by ``libnetwork.store.codec``
(any typed field works there, ``ipaddress`` types included).  They hold what
a user asked for and what was allocated, never kernel handles, so that a
restarted daemon can rebuild the kernel state from them alone.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from .service_binding import ServiceBinding

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class PoolRecord:
    """One IPAM pool of a network, with what was allocated from it."""

    pool_id: str
    subnet: IPNetwork
    gateway: IPInterface | None = None          # 172.18.0.1/16
    ip_range: IPNetwork | None = None
    aux_addresses: dict[str, IPAddress] = field(default_factory=dict)
    # The subnet config exactly as the user gave it, echoed back by inspect.
    user_config: dict[str, Any] | None = None
    # The IPAM driver's address space the pool came from.
    address_space: str = "LocalDefault"


@dataclass
class NetworkRecord:
    id: str
    name: str
    driver: str
    created: str
    scope: str = "local"
    enable_ipv6: bool = False
    internal: bool = False
    attachable: bool = False
    ingress: bool = False
    config_only: bool = False
    config_from: str = ""
    options: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    ipam_driver: str = "default"
    ipam_options: dict[str, str] | None = None       # None: the request had none
    ipv4_pools: list[PoolRecord] = field(default_factory=list)
    ipv6_pools: list[PoolRecord] = field(default_factory=list)
    predefined: bool = False
    # True once every kernel step of create succeeded; a record left False by
    # a crash is rolled back at the next start.
    ready: bool = False

    @property
    def is_default_bridge(self) -> bool:
        """Docker's default network (docker0): dockerd's --bip, --icc, legacy links and /etc/hosts."""
        return self.predefined and self.name == "bridge"


@dataclass
class EndpointRecord:
    id: str
    network_id: str
    sandbox_id: str
    name: str                            # the sandbox name, as Docker's endpoint name
    ifname: str | None = None            # eth0, eth1, ... inside the sandbox
    mac: str | None = None
    ipv4: ipaddress.IPv4Interface | None = None      # 172.18.0.2/16
    ipv6: ipaddress.IPv6Interface | None = None
    ipv4_pool_id: str | None = None
    ipv6_pool_id: str | None = None
    aliases: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    driver_opts: dict[str, str] = field(default_factory=dict)
    # As the user asked (Docker echoes IPAMConfig back in inspect).
    ipam_config: dict[str, Any] = field(default_factory=dict)
    gateway_v4: ipaddress.IPv4Address | None = None
    gateway_v6: ipaddress.IPv6Address | None = None
    # Ports published on this endpoint as bound (PortBinding fields), so a
    # restart takes the same host ports again.
    published: list[dict[str, Any]] = field(default_factory=list)
    created_seq: int = 0                 # connection order inside the sandbox
    ready: bool = False
    # A swarm task's endpoint: the service it is a backend of on this network.
    service: ServiceBinding | None = None


@dataclass
class SandboxRecord:
    id: str
    name: str
    hostname: str
    created: str
    netns_path: str
    # "default" (own namespace), "host" (the daemon's), or "container" (the
    # namespace of sandbox ``shares``).
    mode: str = "default"
    # The daemon created the namespace (and deletes it); False when adopted
    # with --netns or shared from another sandbox or the host.
    owns_netns: bool = True
    # st_dev/st_ino of the namespace when adopted, to notice it vanishing.
    netns_identity: tuple[int, int] | None = None
    port_bindings: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    exposed_ports: list[str] = field(default_factory=list)
    publish_all: bool = False
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_options: list[str] = field(default_factory=list)
    extra_hosts: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)     # HostConfig.Links, "name[:alias]"
    next_seq: int = 0
    ready: bool = False
    shares: str | None = None
    # Made by the swarm (a task, the ingress sandbox), and removed by it when no longer wanted.
    swarm_task: bool = False

    def __post_init__(self) -> None:
        # Records written before ``shares`` existed said "container:<sid>".
        if self.mode.startswith("container:"):
            self.mode, self.shares = "container", self.mode.split(":", 1)[1]

    @property
    def network_mode(self) -> str:
        """Docker's HostConfig.NetworkMode."""
        return f"container:{self.shares}" if self.shares is not None else self.mode


# The type each kind of record decodes to (RecordStore.load).
RECORD_TYPES: dict[str, type] = {"network": NetworkRecord, "endpoint": EndpointRecord, "sandbox": SandboxRecord}
