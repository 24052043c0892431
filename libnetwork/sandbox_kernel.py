"""The kernel side of sandboxes: namespaces and the interfaces plumbed into them.

Every driver's ``join`` answers with the name of an interface it made in the
daemon's namespace; ``Sandboxes.attach`` moves it into the sandbox, renames
it, sets MAC, MTU, addresses and routes.  The sandbox-side interface carries
the endpoint ID as its alias, so it is found again after a restart and a
repeated ``attach`` only verifies.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from dataclasses import dataclass

from .netlink import Netlink, create_netns, is_netns, remove_netns, set_netns_sysctls

log = logging.getLogger(__name__)

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
# The kernel registers every namespace's loopback first, as index 1 (LOOPBACK_IFINDEX).
LOOPBACK_INDEX = 1
# As Docker: IPv6 is on for an interface if and only if its endpoint has an IPv6
# address.  Without one, an IPv6 stack would only join multicast groups, solicit
# routers and answer neighbour discovery (open to NDP spoofing), and on a bridge
# of hundreds of sandboxes each of those multicasts is flooded to every port.
# Interfaces are born with it off (the namespace's default, set before anything
# lives there: loopback keeps ::1) and attach turns it on where it belongs.
# A kernel booted with ipv6.disable=1 has no such sysctl, and nothing to turn off.
NEW_NAMESPACE_SYSCTLS = (
    {"ipv6/conf/default/disable_ipv6": "1"} if os.path.isdir("/proc/sys/net/ipv6") else {})


@dataclass(frozen=True)
class Attachment:
    """Everything needed to plumb one endpoint into one sandbox."""

    eid: str
    src_name: str
    ifname: str
    mac: str | None
    mtu: int | None
    addresses: tuple[IPInterface, ...]
    routes: tuple[tuple[str, str | None], ...] = ()   # (destination, next hop or None)
    neighbour_retrans_ms: int | None = None


def _fast_resolution(spec: Attachment) -> dict[str, str]:
    """Ask again every ``neighbour_retrans_ms``, and as many times as the kernel's default 3 x 1 s allows."""
    retrans = max(10, int(spec.neighbour_retrans_ms or 1000))
    tries = str(max(3, -(-3000 // retrans)))
    families = ["ipv4"] + (["ipv6"] if any(a.version == 6 for a in spec.addresses) else [])
    settings = {}
    for family in families:
        settings[f"{family}/neigh/{spec.ifname}/retrans_time_ms"] = str(retrans)
        settings[f"{family}/neigh/{spec.ifname}/mcast_solicit"] = tries
    return settings


class Sandboxes:
    """Namespaces under the exec root, and one cached netlink socket each."""

    def __init__(self, host: Netlink, netns_dir: str):
        self.host = host
        self.netns_dir = netns_dir
        self._sockets: dict[str, Netlink] = {}
        # (namespace, endpoint) -> interface index, so later steps need no link dump
        self._indexes: dict[tuple[str, str], int] = {}

    def path_for(self, sid: str) -> str:
        return os.path.join(self.netns_dir, sid[:12])

    def owned_paths(self) -> list[str]:
        try:
            return [os.path.join(self.netns_dir, n) for n in os.listdir(self.netns_dir)]
        except FileNotFoundError:
            return []

    def netlink(self, path: str) -> Netlink:
        sock = self._sockets.get(path)
        if sock is None:
            sock = self._sockets[path] = Netlink(path)
        return sock

    def forget(self, path: str) -> None:
        for key in [k for k in self._indexes if k[0] == path]:
            del self._indexes[key]
        sock = self._sockets.pop(path, None)
        if sock is not None:
            sock.close()

    def ensure_namespace(self, path: str) -> None:
        os.makedirs(self.netns_dir, exist_ok=True)
        create_netns(path, NEW_NAMESPACE_SYSCTLS)
        self.netlink(path).set_up(LOOPBACK_INDEX)

    def remove_namespace(self, path: str) -> None:
        self.forget(path)
        remove_netns(path)

    @staticmethod
    def exists(path: str) -> bool:
        return is_netns(path)

    def attach(self, path: str, spec: Attachment) -> None:
        inside = self.netlink(path)
        # A driver may have made the interface inside already (a veth peer
        # born in the sandbox): then there is nothing to move.
        link = inside.find_link(spec.src_name) or inside.find_link_by_alias(spec.eid)
        if link is not None and link.alias == spec.eid:
            inside.set_up(link.index)
        else:
            if link is None:
                self.host.move_to_netns(spec.src_name, path)
                link = inside.find_link(spec.src_name)
                if link is None:
                    raise FileNotFoundError(f"no link {spec.src_name} in {path} after the move")
            # The index stays across the rename.
            inside.configure_link(link.index, name=spec.ifname, mac=spec.mac,
                                  mtu=spec.mtu, alias=spec.eid, is_up=link.up)
        self._indexes[(path, spec.eid)] = link.index
        if any(address.version == 6 for address in spec.addresses):
            set_netns_sysctls(path, {f"ipv6/conf/{spec.ifname}/disable_ipv6": "0"})
        if spec.neighbour_retrans_ms:
            set_netns_sysctls(path, _fast_resolution(spec))
        for address in spec.addresses:
            inside.ensure_address(link.index, address)
        for destination, next_hop in spec.routes:
            gateway = ipaddress.ip_address(next_hop) if next_hop else None
            family = socket.AF_INET6 if ":" in destination else socket.AF_INET
            inside.ensure_route(destination, gateway=gateway, oif=link.index, family=family)

    def detach(self, path: str, eid: str) -> None:
        """Remove the endpoint's interface from the sandbox (a veth takes its peer along)."""
        if not is_netns(path):
            return
        inside = self.netlink(path)
        # Interface indexes in a namespace are handed out in turn, not reused
        # soon, so the one noted at attach is this endpoint's: no link dump.
        index = self._indexes.pop((path, eid), None)
        if index is not None and inside.remove_link_by_index(index):
            return
        link = inside.find_link_by_alias(eid)
        if link is not None:
            inside.remove_link(link.name)

    def set_default_route(self, path: str, eid: str, gateway: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
        inside = self.netlink(path)
        index = self._indexes.get((path, eid))
        if index is None:
            link = inside.find_link_by_alias(eid)
            if link is None:
                return
            index = self._indexes[(path, eid)] = link.index
        family = socket.AF_INET6 if gateway.version == 6 else socket.AF_INET
        inside.ensure_route("default" if family == socket.AF_INET else "::/0",
                            gateway=gateway, oif=index, family=family)

    def has_default_route(self, path: str, version: int) -> bool:
        return self.netlink(path).has_default_route(socket.AF_INET6 if version == 6 else socket.AF_INET)

    def interface_names(self, path: str) -> set[str]:
        return {link.name for link in self.netlink(path).links()}
