"""The network driver contract: what a network driver implements, and what the daemon guarantees it.

A driver turns the controller's decisions into kernel objects for one kind of
network.  The shape follows Docker's CNM driver API and its remote plugin
protocol: ``create_network``, ``delete_network``, ``create_endpoint``,
``delete_endpoint``, ``join``, ``leave``, plus ``capabilities``; port
publishing (``ExternalConnectivity``), cluster node events
(``NodeDiscovery``) and remote endpoints (``PeerProgramming``) are opt-in
protocols.  ``join`` creates the interface in
the daemon's (host) namespace and answers with its name; the sandbox layer
moves it into the sandbox, renames it ``<dst_prefix>N``, sets its MAC, MTU,
addresses and routes, so every driver, built-in or remote, is plumbed by the
same code.  A driver never touches a sandbox's namespace itself.

Writing one (see docs/plugins.md): a package declares an entry point in the
``libnetwork.drivers`` group, ``NAME = "package.module:create_driver"``.
At start the daemon calls ``create_driver(DriverContext)`` once and serves
the result as driver ``NAME`` (``network create -d NAME``); a factory that
raises is logged and its driver is absent.  Import only this module,
``libnetwork.errors`` and, for kernel steps, ``libnetwork.netlink``.  Docker
network plugins (out of process) are served by ``libnetwork.drivers.remote``
under the same contract.

What the daemon guarantees:

* Threading: every call of a driver runs in one worker thread, one at a
  time, never on the daemon's event loop, so a driver needs no locks.  In-
  process drivers share the kernel worker with the sandbox layer: they may
  block (netlink, a subprocess), but while they do, every other kernel step
  waits, so keep calls short and bounded.  A driver whose calls may block for
  long (``Capabilities.own_worker``, as Docker plugins have) gets a worker of
  its own and then delays only its own networks.  Changes of unrelated
  networks proceed concurrently; those of one network never overlap.
* Ordering: ``create_network`` returns before any endpoint call for that
  network, and ``delete_network`` comes after every endpoint of it was
  deleted.  An endpoint goes ``create_endpoint`` -> ``join`` ->
  (``program_external_connectivity``) ... (``revoke_external_connectivity``)
  -> ``leave`` -> ``delete_endpoint``.  IPAM has allocated the network's
  pools and gateway before ``create_network`` and the endpoint's addresses
  before ``create_endpoint``; they are released after the delete calls.
* Failure and rollback: when a call raises, the request fails with that
  error and the controller undoes, in reverse order, the calls of the same
  request that had returned (``leave``, ``delete_endpoint``,
  ``delete_network``), then releases addresses and pools and drops the
  records.  The call that raised is not undone: a driver cleans up its own
  half-done work before raising.  Failures of undo calls are logged; they
  never hide the error that caused the rollback.
* No retries: the controller never repeats a failed call on its own.  A
  user who repeats the request makes a new endpoint (new ID) or network.
* Restarts (``Capabilities.restore_by_replay``, true by default): kernel
  objects outlive the daemon, memory does not.  At every start, before
  serving requests, the controller calls ``create_network`` again for every
  recorded network (same config), then ``create_endpoint`` and ``join`` for
  every recorded endpoint with the recorded IDs, addresses and MAC.  So
  every call must be idempotent: create-or-verify (recreate what is
  missing), and ``delete_*``/``leave`` succeed when the object is already
  gone, or was never made (a crash half way through a request leaves records
  that the next start rolls back with those calls).  A driver that keeps
  its own state across restarts (as Docker's remote plugins do) sets
  ``restore_by_replay=False`` and is not called at start at all.

Errors: raise the classes of ``libnetwork.errors`` (``InvalidParameter`` for
bad options, ``Forbidden``, ``Conflict``, ``NotFound`` ...): the message
reaches the user verbatim with the class's HTTP status; anything else
becomes a 500.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

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
    """What ``capabilities()`` answers; asked once, when the driver is loaded."""

    # Docker's DataScope and ConnectivityScope: "local" (this host) or "global".
    scope: str = LOCAL_SCOPE
    connectivity_scope: str = LOCAL_SCOPE
    # host and null: sandboxes on this network join no other network and
    # get no endpoint interface of their own.
    exclusive: bool = False
    # host: the sandbox uses the daemon's own namespace.
    uses_host_namespace: bool = False
    # True: at every start the controller replays create_network, and
    # create_endpoint + join, for every record (see the module docstring).
    # False: the driver keeps its own state and is not called at start.
    restore_by_replay: bool = True
    # True: calls may block for long (an out-of-process plugin over HTTP).
    # They run in a worker thread of the driver's own instead of the shared
    # kernel worker, so a hung plugin delays only its own networks.
    own_worker: bool = False


@dataclass(frozen=True)
class SubnetData:
    """One IPAM pool of a network as the driver sees it (Docker's IPAMData)."""

    subnet: IPNetwork
    # The gateway address IPAM reserved, with the pool's prefix.
    gateway: ipaddress.IPv4Interface | ipaddress.IPv6Interface | None = None
    # The user's --aux-address NAME=IP, reserved in IPAM for the driver's use.
    aux_addresses: Mapping[str, IPAddress] = field(default_factory=dict)
    # The IPAM address space the pool came from.
    address_space: str = "LocalDefault"


@dataclass(frozen=True)
class NetworkConfig:
    """What ``create_network`` gets: the network as recorded, identical on every replay."""

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
    """What ``create_endpoint`` gets; the addresses are IPAM's, with the pool's prefix."""

    nid: str
    eid: str
    ipv4: IPv4Interface | None = None
    ipv6: IPv6Interface | None = None
    mac: str | None = None          # user's --mac-address (or the recorded one on replay), else the driver's choice
    # The endpoint's driver options (docker network connect --driver-opt).
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EndpointInfo:
    """What create_endpoint answers: the MAC the interface will carry (None: keep the kernel's).

    When ``EndpointConfig.mac`` was given, answer it unchanged.
    """

    mac: str | None = None


@dataclass(frozen=True)
class StaticRoute:
    """A route the sandbox layer adds through the endpoint's interface."""

    destination: IPNetwork
    next_hop: IPAddress | None = None   # None: on-link


@dataclass(frozen=True)
class SandboxInfo:
    sid: str
    # The sandbox's namespace (Docker's SandboxKey); for reading only: the
    # sandbox layer moves the interface in.
    netns_path: str


@dataclass(frozen=True)
class JoinInfo:
    """What join answers; the sandbox layer plumbs it.

    ``src_name`` names an interface the driver made in the daemon's own
    namespace (a veth peer, a macvlan child ...); the sandbox layer moves it
    into the sandbox, names it ``dst_prefix`` + the first free index, sets
    the endpoint's MAC, ``mtu``, addresses and ``static_routes``, and a
    default route via the gateway of the sandbox's first network that has
    one.  None: the sandbox gets no interface (null, host).
    """

    src_name: str | None
    dst_prefix: str = "eth"
    gateway_v4: ipaddress.IPv4Address | None = None   # None: no default route through this network
    gateway_v6: ipaddress.IPv6Address | None = None
    static_routes: tuple[StaticRoute, ...] = ()
    mtu: int | None = None
    # The network answers address resolution itself (an ARP/ND proxy fed by the
    # driver): the sandbox asks again this often (ms) instead of every second,
    # so a peer learnt just after a first ask is reached at once.
    neighbour_retrans_ms: int | None = None


@runtime_checkable
class Driver(Protocol):
    """A network driver.  Every call runs in the kernel worker; see the module docstring."""

    name: str

    def capabilities(self) -> Capabilities:
        """Scope and restart behaviour; called once at load, must not fail."""
        ...

    def create_network(self, config: NetworkConfig) -> None:
        """Make (or verify) the network's shared kernel objects (a bridge, a parent link).

        Parse ``config.options`` here and raise ``InvalidParameter`` for a
        bad one, ``Forbidden`` for a conflict with another network of the
        driver.  Repeated at start with the same config when
        ``restore_by_replay``: rebuild in-memory state, recreate what is missing.
        """
        ...

    def delete_network(self, nid: str) -> None:
        """Remove what create_network made; succeed when it is already gone or unknown."""
        ...

    def create_endpoint(self, config: EndpointConfig) -> EndpointInfo:
        """Reserve what the endpoint needs; kernel objects may wait until ``join``.

        Raise ``NotFound`` for an unknown network, ``InvalidParameter`` for
        bad endpoint options.
        """
        ...

    def delete_endpoint(self, nid: str, eid: str) -> None:
        """Remove what create_endpoint (and join) made; succeed when already gone or unknown."""
        ...

    def join(self, nid: str, eid: str, sandbox: SandboxInfo) -> JoinInfo:
        """Make the endpoint's interface in the daemon's namespace and say how to plumb it.

        Repeated at start when ``restore_by_replay``: the interface may then
        already be inside the sandbox (under its final name); answer the same
        JoinInfo and make nothing new.
        """
        ...

    def leave(self, nid: str, eid: str) -> None:
        """The sandbox layer has taken the interface out of the sandbox; undo join's host-side state."""
        ...


@runtime_checkable
class NodeDiscovery(Protocol):
    """Opt-in: cluster membership events (Docker's DiscoverNew / DiscoverDelete of a node).

    For multi-host drivers: called from the kernel worker when a node joins
    or leaves the cluster; ``self_node`` marks this host's own address.
    """

    def discover_new(self, address: str, bind_address: str = "", self_node: bool = False) -> None: ...

    def discover_delete(self, address: str, bind_address: str = "", self_node: bool = False) -> None: ...


@dataclass(frozen=True)
class Peer:
    """An endpoint of a multi-host network that lives on another node (Docker's overlay peer).

    One address per peer: an endpoint with an IPv4 and an IPv6 address is
    two peers with the same ``eid`` and ``mac``.
    """

    eid: str
    ip: IPv4Interface | IPv6Interface
    mac: str
    # The data path address of the node the endpoint lives on (its VTEP).
    vtep: ipaddress.IPv4Address


@runtime_checkable
class PeerProgramming(Protocol):
    """Opt-in: multi-host drivers told where remote endpoints are (Docker's peerAdd / peerDelete).

    The controller turns the cluster's endpoint tables into these calls, in
    the driver's worker like every other call.  All three are idempotent and
    may come for a network that has no local endpoint yet (or none any more):
    the driver remembers the peers and programs them when the network's
    kernel objects are made on this node.  ``reconcile_peers`` names the
    whole set of a network's remote endpoints (called after a full sync and
    periodically): the kernel is made to match it exactly, removing what
    is stale and adding what is missing.  Endpoints of this node are never
    programmed as peers, whichever call names them.
    """

    def add_peer(self, nid: str, eid: str, ip: IPv4Interface | IPv6Interface, mac: str,
                 vtep: ipaddress.IPv4Address) -> None: ...

    def remove_peer(self, nid: str, eid: str, ip: IPv4Interface | IPv6Interface, mac: str,
                    vtep: ipaddress.IPv4Address) -> None: ...

    def reconcile_peers(self, nid: str, peers: Sequence[Peer]) -> None: ...


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


@runtime_checkable
class Cleanable(Protocol):
    """Opt-in: ``cnmd --cleanup`` (the daemon is not running) removes what the driver made.

    Called once per recorded network of the driver, with the IDs of its
    recorded endpoints, on a driver fresh from its factory (nothing replayed):
    remove exactly the kernel objects these records name, create nothing,
    and answer the failures (the rest is done anyway).
    """

    def remove_leftovers(self, network: NetworkConfig, endpoint_ids: Sequence[str]) -> list[str]: ...


@dataclass(frozen=True)
class DriverContext:
    """What the daemon hands a driver factory (``create_driver(context)``), once, at start."""

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
