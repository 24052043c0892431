"""The remote endpoints of one overlay network, and what the kernel should hold for them.

A VXLAN device maps each MAC to one VTEP, and its neighbour table each IP
to one MAC, while the cluster's tables can briefly name two endpoints for
one key: an address freed on one node and taken on another before the
removal arrives (Docker derives MACs from addresses, so the MAC repeats
too).  The table keeps every peer it was told about, in the order told, and
the last one told wins a key; removing it lets the earlier one win again
rather than deleting an entry another endpoint still needs.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from libnetwork.drivers.api import Peer

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Desired:
    """The static entries of a network's VXLAN device: MAC -> VTEP (FDB) and IP -> MAC (neighbours)."""

    fdb: dict[str, ipaddress.IPv4Address]
    neighbours: dict[IPAddress, str]


def normalized(peer: Peer) -> Peer:
    """Peers compare by value; the kernel answers MACs in lower case."""
    return peer if peer.mac == peer.mac.lower() else Peer(peer.eid, peer.ip, peer.mac.lower(), peer.vtep)


class PeerTable:
    """Pure bookkeeping, no I/O: the driver asks it what to program."""

    def __init__(self) -> None:
        self._peers: dict[tuple[str, IPAddress], Peer] = {}

    def __iter__(self) -> Iterator[Peer]:
        return iter(self._peers.values())

    def __len__(self) -> int:
        return len(self._peers)

    def add(self, peer: Peer) -> Peer | None:
        """Record (or move to the newest place) ``peer``; answer the one it replaced under its key, if different."""
        peer = normalized(peer)
        key = (peer.eid, peer.ip.ip)
        old = self._peers.pop(key, None)
        self._peers[key] = peer
        return old if old != peer else None

    def remove(self, eid: str, ip: IPAddress) -> Peer | None:
        return self._peers.pop((eid, ip), None)

    def replace_all(self, peers: Iterable[Peer]) -> None:
        """The whole set (a reconcile); peers already known keep their order, new ones come after."""
        wanted = {(p.eid, p.ip.ip): normalized(p) for p in peers}
        kept = {key: wanted[key] for key in self._peers if key in wanted}
        kept.update({key: peer for key, peer in wanted.items() if key not in kept})
        self._peers = kept

    def vtep_for(self, mac: str, local: ipaddress.IPv4Address | None) -> ipaddress.IPv4Address | None:
        """Where frames to ``mac`` should go: the newest peer with that MAC, not on this node."""
        for peer in reversed(self._peers.values()):
            if peer.mac == mac.lower() and peer.vtep != local:
                return peer.vtep
        return None

    def mac_for(self, ip: IPAddress, local: ipaddress.IPv4Address | None) -> str | None:
        for peer in reversed(self._peers.values()):
            if peer.ip.ip == ip and peer.vtep != local:
                return peer.mac
        return None

    def desired(self, local: ipaddress.IPv4Address | None) -> Desired:
        """Every entry the kernel should hold; endpoints of this node (VTEP ``local``) are not peers."""
        fdb: dict[str, ipaddress.IPv4Address] = {}
        neighbours: dict[IPAddress, str] = {}
        for peer in self._peers.values():   # oldest first: the newest overwrites
            if peer.vtep != local:
                fdb[peer.mac] = peer.vtep
                neighbours[peer.ip.ip] = peer.mac
        return Desired(fdb, neighbours)
