"""The service load balancer contract: a virtual IP spread over backends.

Only the shape lives here.  A service (swarm's, later) has one virtual IP per
network and listens on one or more ports; each (VIP, protocol, port) is a
``ServiceVip``.  Port ``EVERY_PORT`` (0) is every port of that protocol on the
VIP, as swarm's VIP balances them all (IPVS by firewall mark): its backends
have port ``EVERY_PORT`` too, meaning "the port the client asked for".  A
service on one exact port of the same VIP takes precedence for that port.

New connections to a ``ServiceVip`` are spread over its ``Backend``s (task
addresses); conntrack keeps each established flow on the backend it got, so
changing the backends never moves a live connection.

Every call is one kernel transaction and idempotent (ensuring what is there,
or removing what is gone, succeeds), so the same calls serve a first run, a
rollback and restart reconciliation, as the firewall's.  Adding or removing
one backend costs a constant amount of kernel work whatever the number of
backends already there.

Where the rules apply: in one network namespace, for traffic entering it
through the registered interfaces (``add_interface``: a bridge, an overlay's
bridge) and for traffic its own sockets send (a sandbox's namespace, as
swarm's client-side load balancing).  Threading: like the firewall, a backend
is called from one thread at a time (the kernel worker).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..errors import Conflict, InvalidParameter
from .api import IPAddress

LB_PROTOCOLS = ("tcp", "udp")
EVERY_PORT = 0


@dataclass(frozen=True)
class ServiceVip:
    """One port (or ``EVERY_PORT``) of one service on one virtual IP: the unit of load balancing."""

    service_id: str
    vip: IPAddress
    protocol: str
    port: int

    def __post_init__(self):
        if self.protocol not in LB_PROTOCOLS:
            raise InvalidParameter(f"load balancing supports {', '.join(LB_PROTOCOLS)}, not {self.protocol!r}")
        if not 0 <= self.port < 65536:
            raise InvalidParameter(f"invalid port {self.port}")
        if not self.service_id:
            raise InvalidParameter("a service VIP needs its service's ID")

    @property
    def key(self) -> tuple[IPAddress, str, int]:
        """What the kernel dispatches on: two services cannot share it."""
        return (self.vip, self.protocol, self.port)

    @property
    def every_port(self) -> bool:
        return self.port == EVERY_PORT


@dataclass(frozen=True)
class Backend:
    """One task answering for a service: where a new connection is sent.

    Port ``EVERY_PORT``: the connection keeps its destination port (only for an every-port VIP).
    """

    address: IPAddress
    port: int

    def __post_init__(self):
        if not 0 <= self.port < 65536:
            raise InvalidParameter(f"invalid backend port {self.port}")


@dataclass(frozen=True)
class LbService:
    """A service VIP with its backends, as desired."""

    vip: ServiceVip
    backends: tuple[Backend, ...] = ()


@dataclass(frozen=True)
class LbRuleset:
    """The whole desired state of one namespace's load balancer, for reconciliation."""

    services: tuple[LbService, ...] = ()
    interfaces: tuple[str, ...] = field(default=())


class VipConflict(Conflict):
    """Another service already answers on this VIP, protocol and port (or every port)."""


def check_backends(vip: ServiceVip, backends: Iterable[Backend]) -> tuple[Backend, ...]:
    """The backends deduplicated in order; each of the VIP's address family (no NAT46 here), with a
    port exactly when the VIP has one (an every-port VIP's backends keep the client's port)."""
    unique = tuple(dict.fromkeys(backends))
    for backend in unique:
        if backend.address.version != vip.vip.version:
            raise InvalidParameter(f"backend {backend.address} is not of the family of VIP {vip.vip}")
        if (backend.port == EVERY_PORT) != vip.every_port:
            wanted = "no port (0)" if vip.every_port else "a port"
            raise InvalidParameter(f"a backend of {vip.vip} {vip.protocol}/{vip.port or 'every port'} needs {wanted}, "
                                   f"not {backend.port}")
    return unique


@runtime_checkable
class LoadBalancer(Protocol):
    name: str

    def setup(self) -> None:
        """Create (or verify) the table, maps and chains; learn the live services (restart)."""

    def add_interface(self, ifname: str) -> None:
        """Traffic entering through ``ifname`` is load balanced (and hairpinned back out through it)."""

    def remove_interface(self, ifname: str) -> None: ...

    def masquerade_between(self, in_ifname: str, out_ifname: str) -> None:
        """Balanced connections entering through ``in_ifname`` and sent out through ``out_ifname`` are
        masqueraded, so their backends answer through this namespace (a router in front of an overlay,
        as the routing mesh's ingress sandbox)."""

    def ensure_service(self, vip: ServiceVip, backends: Iterable[Backend]) -> None:
        """The VIP exists with exactly these backends (none: new connections are refused)."""

    def add_backend(self, vip: ServiceVip, backend: Backend) -> None:
        """One more backend (the service is created when missing)."""

    def remove_backend(self, vip: ServiceVip, backend: Backend) -> None:
        """No new connection goes to ``backend``; its established ones go on (conntrack)."""

    def remove_service(self, vip: ServiceVip) -> None: ...

    def reconcile(self, desired: LbRuleset) -> int:
        """Make the live table equal ``desired``; answers how many services and interfaces changed."""

    def cleanup(self) -> None:
        """Remove the table this backend created."""

    def close(self) -> None:
        """Release the backend's kernel handle (and its namespace helper, if any)."""
