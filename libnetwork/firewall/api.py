"""The firewall contract: what the bridge driver asks of a firewall backend.

Only the shape lives here.  A backend owns its own tables and never touches
anyone else's; every call is one transaction and idempotent (adding what is
there, or removing what is gone, succeeds), so that the same calls serve a
first run, a rollback and restart reconciliation.  Rules that grow with
endpoints or published ports are elements of sets and maps: one connect or
one published port costs one element, whatever the number already there.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..errors import Internal, Unavailable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

PROTOCOLS = ("tcp", "udp", "sctp")


@dataclass(frozen=True)
class NetworkRules:
    """One bridge network as the firewall sees it."""

    bridge: str
    subnets: tuple[IPNetwork, ...] = ()
    internal: bool = False          # no way in or out, only within the bridge
    masquerade: bool = True         # outbound traffic leaves with the host's address


@dataclass(frozen=True)
class PortRule:
    """One published port: traffic to host_ip:host_port goes to container_ip:container_port.

    An unspecified host_ip (0.0.0.0 or ::) means any address of the host.
    """

    proto: str
    host_ip: IPAddress
    host_port: int
    container_ip: IPAddress
    container_port: int


@dataclass(frozen=True)
class Ruleset:
    """The whole desired state, from the records, for reconciliation."""

    networks: tuple[NetworkRules, ...] = ()
    isolated_ports: tuple[str, ...] = ()       # bridge ports of networks with ICC off
    ports: tuple[PortRule, ...] = ()


class FirewallError(Internal):
    """The backend refused a change (the message is its own)."""


class FirewallUnavailable(Unavailable):
    """The backend cannot run on this machine (library or kernel support missing)."""


@runtime_checkable
class Firewall(Protocol):
    name: str
    # Ports published on 127.0.0.1 are reached by routing loopback traffic out
    # through the bridge, which the bridge must allow (route_localnet).
    localhost_ports: bool

    def setup(self) -> None:
        """Create the tables, chains and sets (and the user chain, once; it is never flushed)."""

    def add_network(self, rules: NetworkRules) -> None: ...

    def remove_network(self, rules: NetworkRules) -> None: ...

    def isolate_port(self, port: str) -> None:
        """Inter-container traffic off for frames entering the bridge from this port."""

    def release_port(self, port: str) -> None: ...

    def add_ports(self, ports: tuple[PortRule, ...]) -> None: ...

    def remove_ports(self, ports: tuple[PortRule, ...]) -> None: ...

    def reconcile(self, desired: Ruleset) -> int:
        """Make the live elements equal ``desired``; answers how many were changed."""

    def cleanup(self) -> None:
        """Remove every table this backend ever created (``cnmd --cleanup``)."""
