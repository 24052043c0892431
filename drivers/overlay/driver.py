"""The ``overlay`` driver: multi-host networks over VXLAN, Docker's model (libnetwork drivers/overlay).

Per network, on each node that has endpoints in it, a namespace with a
bridge and a VXLAN device (``dataplane.py``); a sandbox joins by a veth pair
whose one end is a port of that bridge.  Where remote endpoints are is told
by the controller (``PeerProgramming``: add_peer / remove_peer /
reconcile_peers, from the cluster's endpoint tables), and where this node is
by ``NodeDiscovery`` (its data path address is the VTEP).  Sandboxes get no
default route here: they reach the outside through another network.

Kernel objects exist on a node only while it has joined endpoints: the
namespace is made by the first join and removed by the last leave (or by
delete_network).  Peers told before that are remembered and programmed when
the namespace is made.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from libnetwork.drivers.api import (
    GLOBAL_SCOPE,
    Capabilities,
    DriverContext,
    EndpointConfig,
    EndpointInfo,
    IPv4Interface,
    IPv6Interface,
    JoinInfo,
    NetworkConfig,
    Peer,
    SandboxInfo,
)
from libnetwork.errors import Forbidden, InvalidParameter, NotFound, NotImplementedByDriver, Unavailable
from libnetwork.netlink import Netlink, is_netns

from .config import OverlayConfig, parse_options
from .dataplane import OverlayNamespace, ensure_namespace, namespace_path, remove_namespace
from .encryption import EspSupport
from .peers import PeerTable

log = logging.getLogger(__name__)
K = TypeVar("K")
C = TypeVar("C")  # what the kernel holds
V = TypeVar("V")  # what it should hold
NEIGHBOUR_RETRANS_MS = 100

NOT_IN_SWARM = "this node is not part of a swarm: overlay networks need its data path address"


@dataclass
class OverlayNetwork:
    config: NetworkConfig
    overlay: OverlayConfig
    # Endpoints joined on this node: the namespace lives while there are any.
    joined: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class OverlayEndpoint:
    config: EndpointConfig
    mac: str


def mac_from_ipv4(address: ipaddress.IPv4Address) -> str:
    """Docker <= 27 (GenerateMACFromIP): 02:42 and the four bytes of the IPv4 address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in address.packed)


class OverlayDriver:
    name = "overlay"

    def __init__(self, context: DriverContext):
        self.context = context
        self.root = os.path.join(context.exec_root, "overlay")
        self.networks: dict[str, OverlayNetwork] = {}
        self.endpoints: dict[str, OverlayEndpoint] = {}
        self.peers: dict[str, PeerTable] = {}
        self.namespaces: dict[str, OverlayNamespace] = {}
        self.vtep: ipaddress.IPv4Address | None = None
        self.esp = EspSupport(self.root)
        self._host: Netlink | None = None

    @property
    def host(self) -> Netlink:
        # Opened on first use, inside the driver's worker thread.
        if self._host is None:
            self._host = Netlink()
        return self._host

    def capabilities(self) -> Capabilities:
        return Capabilities(scope=GLOBAL_SCOPE, connectivity_scope=GLOBAL_SCOPE)

    # -- this node ---------------------------------------------------------------

    def discover_new(self, address: str, bind_address: str = "", self_node: bool = False) -> None:
        """This node's data path address (``bind_address``, else ``address``) becomes its VTEP.

        Other nodes' events need nothing here: the controller names their
        endpoints with add_peer.  A changed address rebuilds the VXLAN devices
        of the networks that have endpoints here.
        """
        if not self_node:
            return
        try:
            vtep = ipaddress.ip_address(bind_address or address)
        except ValueError:
            raise InvalidParameter(f"invalid data path address {bind_address or address!r}") from None
        if not isinstance(vtep, ipaddress.IPv4Address):
            raise InvalidParameter(f"the overlay needs an IPv4 data path address, not {vtep}")
        if vtep == self.vtep:
            return
        log.info("overlay data path address", extra={"vtep": str(vtep), "previous": str(self.vtep)})
        self.vtep = vtep
        for nid in list(self.namespaces):
            self.namespaces.pop(nid).close()
            self._open_namespace(self.networks[nid])

    def discover_delete(self, address: str, bind_address: str = "", self_node: bool = False) -> None:
        """This node left the cluster: no new joins; what exists stays until its endpoints leave."""
        if self_node:
            self.vtep = None

    # -- networks ----------------------------------------------------------------

    def create_network(self, config: NetworkConfig) -> None:
        overlay = parse_options(config, underlay_mtu=self.context.mtu)
        if overlay.encrypted:
            raise NotImplementedByDriver(self.esp.refusal())
        for other in self.networks.values():
            if other.config.nid != config.nid and (other.overlay.vni, other.overlay.dstport) == \
                    (overlay.vni, overlay.dstport):
                raise Forbidden(f"cannot create network {config.nid}: VNI {overlay.vni} is in use by "
                                f"network {other.config.nid} ({other.config.name})")
        existing = self.networks.get(config.nid)
        if existing is not None:
            existing.config, existing.overlay = config, overlay
        else:
            # Nothing in the kernel yet: the namespace waits for the first join here.
            self.networks[config.nid] = OverlayNetwork(config, overlay)

    def delete_network(self, nid: str) -> None:
        self._remove_namespace(nid)
        self.networks.pop(nid, None)
        self.peers.pop(nid, None)

    def _network(self, nid: str) -> OverlayNetwork:
        try:
            return self.networks[nid]
        except KeyError:
            raise NotFound(f"network {nid} not found") from None

    # -- endpoints ---------------------------------------------------------------

    def create_endpoint(self, config: EndpointConfig) -> EndpointInfo:
        self._network(config.nid)
        if config.ipv4 is None:
            raise InvalidParameter("create endpoint was not passed interface IP address")
        mac = (config.mac or mac_from_ipv4(config.ipv4.ip)).lower()
        self.endpoints[config.eid] = OverlayEndpoint(config, mac)
        return EndpointInfo(mac=mac)

    def delete_endpoint(self, nid: str, eid: str) -> None:
        self.endpoints.pop(eid, None)
        self._unplug(nid, eid)

    def join(self, nid: str, eid: str, sandbox: SandboxInfo) -> JoinInfo:
        net = self._network(nid)
        try:
            endpoint = self.endpoints[eid]
        except KeyError:
            raise NotFound(f"could not find endpoint with id {eid}") from None
        if self.vtep is None:
            raise Unavailable(NOT_IN_SWARM)
        namespace = self._open_namespace(net)
        try:
            src_name = namespace.plug(eid, endpoint.mac, sandbox.netns_path)
        except BaseException:
            # The first join made the namespace: it goes with the failure.
            if not net.joined:
                self._remove_namespace(nid)
            raise
        net.joined.add(eid)
        # No gateway: the outside is reached through another network (Docker's docker_gwbridge).
        # vxlan0 answers ARP/ND from the peers the cluster told it about; a sandbox that asked just before a
        # new peer's entry arrived asks again within 100 ms rather than after a second
        return JoinInfo(src_name=src_name, dst_prefix="eth", mtu=net.overlay.mtu,
                        neighbour_retrans_ms=NEIGHBOUR_RETRANS_MS)

    def leave(self, nid: str, eid: str) -> None:
        self._unplug(nid, eid)

    def _unplug(self, nid: str, eid: str) -> None:
        """Undo a join; the last endpoint of the network here takes the namespace along."""
        net = self.networks.get(nid)
        namespace = self.namespaces.get(nid)
        if namespace is not None:
            namespace.unplug(eid)
        if net is not None:
            net.joined.discard(eid)
            if not net.joined:
                self._remove_namespace(nid)

    # -- the namespace -----------------------------------------------------------

    def _open_namespace(self, net: OverlayNetwork) -> OverlayNamespace:
        nid = net.config.nid
        namespace = self.namespaces.get(nid)
        if namespace is not None:
            return namespace
        if self.vtep is None:
            raise Unavailable(NOT_IN_SWARM)
        path = namespace_path(self.root, nid)
        # One found after a restart holds the ports of endpoints not replayed
        # yet: a failure leaves it to them; one made now goes with the failure.
        made = not is_netns(path)
        try:
            namespace = ensure_namespace(self.host, path, nid, net.overlay, self.vtep)
        except FileExistsError as err:
            self._discard(path, made)
            raise Forbidden(f"cannot create the VXLAN device of network {nid}: {err.strerror}") from None
        except BaseException:
            self._discard(path, made)
            raise
        self.namespaces[nid] = namespace
        # New, or found after a restart: either way it gets every peer known now.
        try:
            self._program_all(namespace, self.peers.get(nid))
        except BaseException:
            self.namespaces.pop(nid).close()
            self._discard(path, made)
            raise
        log.debug("overlay namespace ready", extra={"network": nid[:12], "netns": path})
        return namespace

    @staticmethod
    def _discard(path: str, made: bool) -> None:
        """Undo a namespace made by a call that is failing; never hides that call's error."""
        if not made:
            return
        try:
            remove_namespace(path)
        except Exception:  # the caller raises the error that matters
            log.exception("could not remove the overlay namespace of a failed join", extra={"netns": path})

    def _remove_namespace(self, nid: str) -> None:
        namespace = self.namespaces.pop(nid, None)
        if namespace is None:
            remove_namespace(namespace_path(self.root, nid))
            return
        try:
            remove_namespace(namespace.path, namespace.netlink)
        finally:
            namespace.close()

    def _program_all(self, namespace: OverlayNamespace, table: PeerTable | None) -> None:
        if table is None:
            return
        desired = table.desired(self.vtep)
        for mac, vtep in desired.fdb.items():
            namespace.replace_fdb(mac, vtep)
        for ip, mac in desired.neighbours.items():
            namespace.replace_neighbour(ip, mac)

    # -- peers (PeerProgramming) -------------------------------------------------

    def add_peer(self, nid: str, eid: str, ip: IPv4Interface | IPv6Interface, mac: str,
                 vtep: ipaddress.IPv4Address) -> None:
        """A remote endpoint: its MAC through vxlan0 to ``vtep``, its IP answered with its MAC."""
        peer = Peer(eid, ip, mac.lower(), vtep)
        if self._is_local(peer):
            return   # an endpoint of this node: br0 reaches it directly
        table = self.peers.setdefault(nid, PeerTable())
        replaced = table.add(peer)
        namespace = self.namespaces.get(nid)
        if namespace is not None:
            self._sync(namespace, table, [peer] + ([replaced] if replaced else []))

    def remove_peer(self, nid: str, eid: str, ip: IPv4Interface | IPv6Interface, mac: str,
                    vtep: ipaddress.IPv4Address) -> None:
        table = self.peers.get(nid)
        removed = table.remove(eid, ip.ip) if table is not None else None
        namespace = self.namespaces.get(nid)
        if namespace is not None:
            self._sync(namespace, table or PeerTable(), [removed or Peer(eid, ip, mac.lower(), vtep)])

    def _is_local(self, peer: Peer) -> bool:
        return peer.vtep == self.vtep or peer.eid in self.endpoints

    def _sync(self, namespace: OverlayNamespace, table: PeerTable, changed: Sequence[Peer]) -> None:
        """Bring the entries of the changed peers' MACs and IPs to what the table now says."""
        for peer in changed:
            vtep = table.vtep_for(peer.mac, self.vtep)
            if vtep is not None:
                namespace.replace_fdb(peer.mac, vtep)
            else:
                namespace.remove_fdb(peer.mac, peer.vtep)
            mac = table.mac_for(peer.ip.ip, self.vtep)
            if mac is not None:
                namespace.replace_neighbour(peer.ip.ip, mac)
            else:
                namespace.remove_neighbour(peer.ip.ip, peer.mac)

    def reconcile_peers(self, nid: str, peers: Sequence[Peer]) -> None:
        """Make the network's entries exactly those of ``peers``: stale ones go, missing ones come."""
        table = self.peers.setdefault(nid, PeerTable())
        table.replace_all(p for p in peers if not self._is_local(p))
        namespace = self.namespaces.get(nid)
        if namespace is None:
            return
        desired = table.desired(self.vtep)
        fixed = _converge({(e.mac.lower(), e.dst) for e in namespace.fdb_entries()}, desired.fdb,
                          remove=namespace.remove_fdb, add=namespace.replace_fdb)
        fixed += _converge({(n.ip, (n.mac or "").lower()) for n in namespace.neighbours()}, desired.neighbours,
                           remove=namespace.remove_neighbour, add=namespace.replace_neighbour)
        if fixed:
            log.info("overlay peers reconciled", extra={"network": nid[:12], "entries_fixed": fixed})

    # -- restart and cleanup -----------------------------------------------------

    def restore_done(self) -> None:
        """After a start's replay: namespaces of networks without an endpoint joined here go."""
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return
        wanted = {os.path.basename(ns.path) for ns in self.namespaces.values()}
        for name in names:
            path = os.path.join(self.root, name)
            if name not in wanted and is_netns(path):
                log.info("removing an overlay namespace no endpoint needs", extra={"netns": path})
                remove_namespace(path)

    def remove_leftovers(self, network: NetworkConfig, endpoint_ids: Sequence[str]) -> list[str]:
        """``cnmd --cleanup``: the network's namespace (its ports and VXLAN device go with it)."""
        path = namespace_path(self.root, network.nid)
        try:
            remove_namespace(path)
        except Exception as err:  # cleanup goes on and reports every failure
            return [f"{network.name}: {path}: {err}"]
        return []


def _converge(current: set[tuple[K, C]], desired: Mapping[K, V], *, remove: Callable[[K, C], None],
              add: Callable[[K, V], None]) -> int:
    """Make a kernel table (FDB: MAC -> VTEP, neighbours: IP -> MAC) hold exactly ``desired``; answers the changes."""
    changes = 0
    for key, held in current:
        if desired.get(key) != held:
            remove(key, held)
            changes += 1
    for key, wanted in desired.items():
        if (key, wanted) not in current:
            add(key, wanted)
            changes += 1
    return changes
