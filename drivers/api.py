"""The network driver contract.

A driver turns the controller's decisions into kernel objects for one kind of
network.  The shape follows Docker's CNM driver API and its remote plugin
protocol: ``create_network``, ``delete_network``, ``create_endpoint``,
``delete_endpoint``, ``join``, ``leave``.  ``join`` creates the interface on
the host side and answers with its name; the sandbox layer moves it into the
sandbox, renames it ``<dst_prefix>N`` and sets addresses and routes, so every
driver, built-in or remote, is plumbed by the same code.

Contract the controller keeps:
  * calls run in one worker thread, one at a time: a driver needs no locks;
  * every call may be repeated with the same arguments (restart
    reconciliation runs the same steps again), so each must be idempotent:
    create-or-verify, and delete succeeds when already gone;
  * on failure part way through a request, the controller undoes the calls
    that succeeded, in reverse order (``leave``, ``delete_endpoint``, ...);
  * ``create_network`` is called again at every daemon start for every
    recorded network, before any endpoint call: that is where a driver
    rebuilds its in-memory state.

Raise the classes of ``libnetwork.errors`` (``InvalidParameter`` for bad
options, ``Forbidden``, ``Conflict`` ...); anything else becomes a 500.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Mapping, Protocol, runtime_checkable

from ..firewall.api import Firewall
from ..firewall.null import NullFirewall

IPv4Interface = ipaddress.IPv4Interface
IPv6Interface = ipaddress.IPv6Interface
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

LOCAL_SCOPE = "local"
GLOBAL_SCOPE = "global"


@dataclass(frozen=True)
class Capabilities:
    scope: str = LOCAL_SCOPE
    connectivity_scope: str = LOCAL_SCOPE
    # host and null: sandboxes on this network join no other network and
    # get no endpoint interface of their own.
    exclusive: bool = False
    # host: the sandbox uses the daemon's own namespace.
    uses_host_namespace: bool = False


@dataclass(frozen=True)
class SubnetData:
    """One IPAM pool of a network as the driver sees it."""

    subnet: IPNetwork
    gateway: ipaddress.IPv4Interface | ipaddress.IPv6Interface | None = None
    aux_addresses: Mapping[str, IPAddress] = field(default_factory=dict)


@dataclass(frozen=True)
class NetworkConfig:
    nid: str
    name: str
    # Docker's -o key=value driver options, verbatim; each driver parses them
    # into its own typed config once, in create_network.
    options: Mapping[str, str] = field(default_factory=dict)
    ipv4: tuple[SubnetData, ...] = ()
    ipv6: tuple[SubnetData, ...] = ()
    internal: bool = False
    enable_ipv6: bool = False
    # The predefined default network (Docker's docker0).
    default_bridge: bool = False


@dataclass(frozen=True)
class EndpointConfig:
    nid: str
    eid: str
    ipv4: IPv4Interface | None = None
    ipv6: IPv6Interface | None = None
    mac: str | None = None          # user's --mac-address, else the driver's choice
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EndpointInfo:
    """What create_endpoint answers: the MAC the interface will carry."""

    mac: str | None = None


@dataclass(frozen=True)
class StaticRoute:
    destination: IPNetwork
    next_hop: IPAddress | None = None   # None: on-link


@dataclass(frozen=True)
class SandboxInfo:
    sid: str
    netns_path: str


@dataclass(frozen=True)
class JoinInfo:
    """What join answers; the sandbox layer plumbs it."""

    src_name: str | None           # host-side name of the interface to move in; None: none
    dst_prefix: str = "eth"
    gateway_v4: ipaddress.IPv4Address | None = None
    gateway_v6: ipaddress.IPv6Address | None = None
    static_routes: tuple[StaticRoute, ...] = ()
    mtu: int | None = None


@runtime_checkable
class Driver(Protocol):
    name: str

    def capabilities(self) -> Capabilities: ...

    def create_network(self, config: NetworkConfig) -> None: ...

    def delete_network(self, nid: str) -> None: ...

    def create_endpoint(self, config: EndpointConfig) -> EndpointInfo: ...

    def delete_endpoint(self, nid: str, eid: str) -> None: ...

    def join(self, nid: str, eid: str, sandbox: SandboxInfo) -> JoinInfo: ...

    def leave(self, nid: str, eid: str) -> None: ...


@dataclass(frozen=True)
class PortBinding:
    """One published port, as asked or as bound.

    Asked: ``host_ip`` "" is the network's default binding address,
    ``host_port`` 0 an ephemeral port, and ``host_port_end`` > ``host_port``
    a range to pick one from.  Bound: every field concrete, ``host_port_end`` 0.
    """

    proto: str                      # "tcp" | "udp" | "sctp"
    container_port: int
    host_ip: str = ""
    host_port: int = 0
    host_port_end: int = 0


@runtime_checkable
class ExternalConnectivity(Protocol):
    """Opt-in: drivers that publish ports (bridge).

    The controller programs the endpoint that gives the sandbox its default
    gateway, and revokes before that endpoint goes (or stops being the
    gateway).  Programming an endpoint already programmed answers what is
    bound; after a restart it is asked again with the bound (concrete)
    ports, so the same host ports come back.
    """

    def program_external_connectivity(self, nid: str, eid: str,
                                      bindings: tuple[PortBinding, ...]) -> tuple[PortBinding, ...]: ...

    def revoke_external_connectivity(self, nid: str, eid: str) -> None: ...


@runtime_checkable
class Restorable(Protocol):
    """Opt-in: called once after a start replayed every record through the driver.

    What the driver holds in memory is then the whole desired state; kernel
    state left from before (a crash, records removed while down) that no
    record asked for goes now.
    """

    def restore_done(self) -> None: ...


@dataclass(frozen=True)
class DriverContext:
    """What the daemon hands a driver factory (``create_driver(context)``)."""

    data_root: str
    exec_root: str
    # Daemon-wide defaults as dockerd spells them (mtu, ...).
    mtu: int = 1500
    default_bridge_name: str = "cnm0"
    # dockerd's --icc and --ip-masq: the default bridge network only.
    icc: bool = True
    ip_masq: bool = True
    # dockerd's --ip: the host address ports are published on by default.
    default_binding_ip: str = "0.0.0.0"
    # The firewall backend (nftables, or the null one of --iptables=false).
    firewall: Firewall = field(default_factory=NullFirewall)
