"""What a swarm task's endpoint answers for: its service, on that endpoint's network.

A task is a sandbox like any other; what makes it a service's is this value
on each of its endpoints.  It travels with the endpoint everywhere the
endpoint goes (its record, the core's events, the endpoint table's gossip), so
every node learns a service's virtual IP, its names and its backends from
the same stream that tells it about endpoints, local or remote, as Docker's
agent reads them from its service-discovery table.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .errors import InvalidParameter

ENDPOINT_MODES = ("vip", "dnsrr")
PORT_PROTOCOLS = ("tcp", "udp")


@dataclass(frozen=True)
class IngressPort:
    """A port published through the routing mesh: ``published`` on every node, ``target`` on the task."""

    protocol: str
    published: int
    target: int

    def __post_init__(self) -> None:
        if self.protocol not in PORT_PROTOCOLS:
            raise InvalidParameter(f"invalid protocol {self.protocol!r}: expected tcp or udp")
        for port in (self.published, self.target):
            if not 0 < port < 65536:
                raise InvalidParameter(f"invalid port {port}")


@dataclass(frozen=True)
class ServiceBinding:
    """The service behind one task endpoint.

    ``vip`` is the service's virtual IP on this endpoint's network (None in
    dnsrr mode, where the name answers the task addresses); ``aliases`` are
    the service's extra names on that network.  ``ingress_ports`` is set only
    on the endpoint on the ingress network: what every node publishes.
    """

    service_id: str
    service_name: str
    endpoint_mode: str = "vip"
    vip: ipaddress.IPv4Interface | None = None
    aliases: tuple[str, ...] = ()
    ingress_ports: tuple[IngressPort, ...] = ()

    def __post_init__(self) -> None:
        if not self.service_id or not self.service_name:
            raise InvalidParameter("a service binding needs its service's ID and name")
        if self.endpoint_mode not in ENDPOINT_MODES:
            raise InvalidParameter(f"invalid endpoint mode {self.endpoint_mode!r}: expected vip or dnsrr")
        if self.endpoint_mode == "dnsrr" and self.vip is not None:
            raise InvalidParameter("a dnsrr service has no virtual IP")

    @property
    def names(self) -> tuple[str, ...]:
        """The names that answer for the whole service: its VIP, or (dnsrr) every task."""
        return tuple(dict.fromkeys((self.service_name, *self.aliases)))

    @property
    def tasks_name(self) -> str:
        """Docker's ``tasks.NAME``: every task's own address, in either mode."""
        return f"tasks.{self.service_name}"
