"""The kernel side of one overlay network on this node: its namespace and what lives in it.

    overlay namespace <exec-root>/overlay/<network ID[:12]>
      br0      bridge, the subnet's gateway address, MTU of the network
      vxlan0   VXLAN (VNI, UDP port, local VTEP, nolearning, proxy), port of br0;
               made from the daemon's namespace, so its UDP socket is there
      vethXXXXXXX   one port of br0 per joined endpoint; its peer is born in the sandbox

Remote endpoints are reached through static entries on vxlan0 only: an FDB
entry sends a peer's MAC to its node's VTEP, a permanent neighbour entry
answers ARP (and neighbour solicitations) for its IP from inside the node
(the ``proxy`` flag), so nothing is flooded across the underlay and nothing
is learnt from it.  Every step is idempotent: ``ensure_namespace`` verifies
what exists and rebuilds what differs, so a restart runs it again.
"""

from __future__ import annotations

import ipaddress
import logging
import os

from libnetwork.netlink import (
    FdbEntry,
    Neighbour,
    Netlink,
    Vxlan,
    create_netns,
    is_netns,
    remove_netns,
    set_netns_sysctls,
)

from .config import OverlayConfig

log = logging.getLogger(__name__)

BRIDGE = "br0"
VXLAN = "vxlan0"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Only br0 carries IPv6, and only on an IPv6 network: on the VXLAN device and
# the endpoints' ports it would send router solicitations and MLD reports
# that go nowhere (no flooding across the underlay).
_NEW_NAMESPACE_SYSCTLS = {"ipv6/conf/default/disable_ipv6": "1"} if os.path.isdir("/proc/sys/net/ipv6") else {}


def namespace_path(root: str, nid: str) -> str:
    return os.path.join(root, nid[:12])


def veth_names(eid: str) -> tuple[str, str]:
    """(port on br0, sandbox side before the rename): fixed per endpoint, so a repeated join finds them."""
    return f"veth{eid[:7]}", f"ovs{eid[:7]}"


def bridge_mac(nid: str) -> str:
    """br0's own MAC, fixed by the network so a rebuilt br0 keeps the address sandboxes have cached."""
    return "06:" + ":".join(nid[i:i + 2] for i in range(0, 10, 2))


class OverlayNamespace:
    """An open overlay namespace: one netlink socket inside it and the indexes of br0 and vxlan0."""

    def __init__(self, path: str, netlink: Netlink, bridge_index: int, vxlan_index: int, mtu: int):
        self.path = path
        self.netlink = netlink
        self.bridge_index = bridge_index
        self.vxlan_index = vxlan_index
        self.mtu = mtu

    def close(self) -> None:
        self.netlink.close()

    # -- endpoints ---------------------------------------------------------------

    def plug(self, eid: str, mac: str, sandbox_netns: str) -> str:
        """A veth pair: a port of br0 here, its peer born in the sandbox (named, with MAC and MTU, down).

        Answers the peer's name for the sandbox layer, which finds it there,
        renames it and sets its addresses (one request, no move).
        """
        port, peer = veth_names(eid)
        self.netlink.ensure_veth(port, peer, mtu=self.mtu, master=self.bridge_index,
                                 peer_mac=mac, peer_netns=sandbox_netns)
        # MACs follow addresses, and an address freed on another node may be ours before that node's
        # endpoint is gone (or we hear it is): br0 may have learnt this MAC behind vxlan0.
        self.netlink.pin_to_port(port, mac)
        return peer

    def unplug(self, eid: str) -> None:
        self.netlink.remove_link(veth_names(eid)[0])

    # -- peers -------------------------------------------------------------------

    def replace_fdb(self, mac: str, vtep: ipaddress.IPv4Address) -> None:
        self.netlink.replace_fdb(self.vxlan_index, mac, vtep)

    def remove_fdb(self, mac: str, vtep: IPAddress) -> None:
        self.netlink.remove_fdb(self.vxlan_index, mac, vtep)

    def replace_neighbour(self, ip: IPAddress, mac: str) -> None:
        self.netlink.replace_neighbour(self.vxlan_index, ip, mac)

    def remove_neighbour(self, ip: IPAddress, mac: str) -> None:
        self.netlink.remove_neighbour(self.vxlan_index, ip, mac)

    def fdb_entries(self) -> list[FdbEntry]:
        return self.netlink.fdb_entries(self.vxlan_index)

    def neighbours(self) -> list[Neighbour]:
        """The permanent entries: the only ones this driver makes (the device has no address to resolve from)."""
        return [n for n in self.netlink.neighbours(self.vxlan_index) if n.permanent]


def ensure_namespace(host: Netlink, path: str, nid: str, overlay: OverlayConfig,
                     vtep: ipaddress.IPv4Address) -> OverlayNamespace:
    """Make (or verify) the network's namespace with br0 and vxlan0; ``host`` is the daemon's namespace."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    create_netns(path, _NEW_NAMESPACE_SYSCTLS)
    inside = Netlink(path)
    try:
        bridge = inside.ensure_bridge(BRIDGE, mtu=overlay.mtu, mac=bridge_mac(nid))
        if overlay.gateway_v6 is not None and _NEW_NAMESPACE_SYSCTLS:
            set_netns_sysctls(path, {f"ipv6/conf/{BRIDGE}/disable_ipv6": "0"})
        for gateway in (overlay.gateway, overlay.gateway_v6):
            if gateway is not None:
                inside.ensure_address(bridge.index, gateway)
        wanted = Vxlan(vni=overlay.vni, port=overlay.dstport, local=vtep, mtu=overlay.mtu,
                       learning=False, proxy=True)
        vxlan_index = _ensure_vxlan(host, inside, path, bridge.index, wanted)
        if overlay.gateway_v6 is not None and _NEW_NAMESPACE_SYSCTLS:
            # IPv6 neighbour entries (and the device's ND proxy) need IPv6 on the VXLAN device itself
            set_netns_sysctls(path, {f"ipv6/conf/{VXLAN}/disable_ipv6": "0"})
    except BaseException:
        inside.close()
        raise
    return OverlayNamespace(path, inside, bridge.index, vxlan_index, overlay.mtu)


def _ensure_vxlan(host: Netlink, inside: Netlink, path: str, bridge_index: int, wanted: Vxlan) -> int:
    found = inside.find_vxlan(VXLAN)
    if found is not None:
        link, current = found
        if current == wanted and link.master == bridge_index and link.up:
            return link.index
        # Another VTEP address (the node's data path address changed), port or MTU:
        # made again, and the caller programs the peers again.
        log.info("overlay VXLAN device differs, making it again",
                 extra={"netns": path, "found": repr(current), "wanted": repr(wanted)})
        inside.remove_link(VXLAN)
    host.add_vxlan(VXLAN, wanted, netns_path=path, master=bridge_index)
    made = inside.find_link(VXLAN)
    if made is None:
        raise FileNotFoundError(f"no link {VXLAN} in {path} after creating it")
    return made.index


def remove_namespace(path: str, inside: Netlink | None = None) -> None:
    """Remove the namespace and, first, its VXLAN device (idempotent); ``inside`` is an open socket there.

    A namespace is dismantled asynchronously, after its last reference
    goes; until then its VXLAN device would keep the VNI taken in the
    daemon's namespace (where its socket is), and the same network made again
    at once would be refused.  Deleting the device first releases it now.
    """
    if inside is not None:
        inside.remove_link(VXLAN)
    elif is_netns(path):
        inside = Netlink(path)
        try:
            inside.remove_link(VXLAN)
        finally:
            inside.close()
    remove_netns(path)
