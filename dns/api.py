"""The embedded resolver's contract: what the controller hands it, and its constants.

After a topology change of one sandbox the controller describes that
sandbox alone as ``SandboxNames``: its endpoint's DNS names and addresses
on each network it is on (in connection order), its link aliases and its
upstream servers.  The resolver keeps every network's names from these,
recomputes only what the change touched, and swaps the new answers in
whole, so a query is always answered from one consistent snapshot.  It
never sees controller records.

``SandboxDNS`` with whole ``NetworkNames`` is the one-shot form of the
same thing (``zone.Zones.build``): every network's endpoints at once.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Protocol

IPv4Address = ipaddress.IPv4Address
IPv6Address = ipaddress.IPv6Address

# Docker's resolverIPSandbox: the address every sandbox's resolv.conf names.
RESOLVER_ADDRESS = "127.0.0.11"
DNS_PORT = 53
# Docker's respTTL for the names it owns.
TTL = 600
# Docker's maxExtDNS, extIOTimeout and maxConcurrent.
MAX_UPSTREAMS = 3
UPSTREAM_TIMEOUT = 4.0
MAX_CONCURRENT_FORWARDS = 1024
# Plain DNS over UDP without EDNS0 (RFC 1035 4.2.1); TCP's 2-byte length prefix.
UDP_PAYLOAD = 512
TCP_PAYLOAD = 65535
# The largest EDNS0 payload we honour on UDP (RFC 6891 allows more; nobody needs it here).
MAX_EDNS_PAYLOAD = 4096
# Docker's fallback when no usable upstream is left.
DEFAULT_UPSTREAMS = ("8.8.8.8", "8.8.4.4")


@dataclass(frozen=True)
class EndpointNames:
    """One endpoint as DNS sees it: its names (the first answers PTR) and addresses."""

    names: tuple[str, ...]
    ipv4: IPv4Address | None = None
    ipv6: IPv6Address | None = None


@dataclass(frozen=True)
class NetworkNames:
    """A user-defined network: the names every sandbox on it can resolve."""

    nid: str
    name: str
    endpoints: tuple[EndpointNames, ...] = ()


@dataclass(frozen=True)
class Link:
    """``--link TARGET:ALIAS``: ALIAS resolves to TARGET, for the linking sandbox only.

    ``network`` limits it to one network (a link given on connect); None
    means every network of the sandbox (a link given at create).
    """

    target: str
    alias: str
    network: str | None = None


@dataclass(frozen=True)
class Upstream:
    """An upstream server; ``host_loopback`` ones are queried from the daemon's namespace."""

    address: str
    port: int = DNS_PORT
    host_loopback: bool = False

    def __str__(self) -> str:
        return f"host({self.address})" if self.host_loopback else self.address


class Forwarding(Protocol):
    """What forwarding reads of a sandbox (``SandboxNames`` and ``SandboxDNS`` both have it)."""

    @property
    def upstreams(self) -> tuple[Upstream, ...]: ...

    @property
    def external_access(self) -> bool: ...


@dataclass(frozen=True)
class Membership:
    """A sandbox's endpoint on one user-defined network, as every sandbox there sees it."""

    nid: str
    network: str                # the network's name, for ``name.network`` and PTR answers
    endpoint: EndpointNames


@dataclass(frozen=True)
class SandboxNames:
    """One sandbox's own part of everyone's answers, and what it needs to forward."""

    sid: str
    memberships: tuple[Membership, ...]         # connection order: first connected answers first
    links: tuple[Link, ...] = ()
    upstreams: tuple[Upstream, ...] = ()
    # False when every network of the sandbox is --internal: no host-loopback upstreams then.
    external_access: bool = True


@dataclass(frozen=True)
class SandboxDNS:
    """One sandbox with every endpoint of its networks: the one-shot form of ``SandboxNames``."""

    sid: str
    networks: tuple[NetworkNames, ...]          # connection order: first connected answers first
    links: tuple[Link, ...] = ()
    upstreams: tuple[Upstream, ...] = ()
    external_access: bool = True
