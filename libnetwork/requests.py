"""Typed requests the controller takes, parsed from Docker's JSON at the API edge."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .service_binding import ServiceBinding


@dataclass(frozen=True)
class SubnetRequest:
    subnet: ipaddress.IPv4Network | ipaddress.IPv6Network
    ip_range: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    gateway: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    aux_addresses: Mapping[str, ipaddress.IPv4Address | ipaddress.IPv6Address] = field(default_factory=dict)
    # As the user sent it; inspect echoes it verbatim.
    user_config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NetworkCreate:
    name: str
    driver: str = "bridge"
    options: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    ipam_driver: str = "default"
    ipam_options: Mapping[str, str] | None = None
    subnets: tuple[SubnetRequest, ...] = ()
    enable_ipv6: bool = False
    internal: bool = False
    attachable: bool = False
    ingress: bool = False
    scope: str = ""
    config_only: bool = False
    config_from: str = ""


@dataclass(frozen=True)
class EndpointRequest:
    aliases: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    mac_address: str | None = None
    driver_opts: Mapping[str, str] = field(default_factory=dict)
    # Docker's EndpointIPAMConfig (IPv4Address, IPv6Address, LinkLocalIPs):
    # checked against the network by the controller, which alone knows it.
    ipam_config: Mapping[str, Any] = field(default_factory=dict)
    # Set by the swarm's task agent on a task's endpoints: the service it answers for there.
    service: ServiceBinding | None = None


@dataclass(frozen=True)
class NetworkAttachment:
    network: str                          # name, ID, prefix, or "container:<sandbox>"
    endpoint: EndpointRequest = field(default_factory=EndpointRequest)


CONTAINER_MODE_PREFIX = "container:"


def shared_sandbox(network: str) -> str | None:
    """Docker's ``--network container:<name|id>``: the sandbox named, else None."""
    if network.startswith(CONTAINER_MODE_PREFIX):
        return network[len(CONTAINER_MODE_PREFIX):]
    return None


@dataclass(frozen=True)
class SandboxCreate:
    name: str = ""
    hostname: str = ""
    netns_path: str = ""                   # adopt this namespace instead of creating one
    networks: tuple[NetworkAttachment, ...] = ()
    port_bindings: Mapping[str, list[dict[str, str]]] = field(default_factory=dict)
    exposed_ports: tuple[str, ...] = ()
    publish_all: bool = False
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    extra_hosts: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    # A swarm task's (or the routing mesh's) sandbox: it may join swarm networks
    # that are not attachable, as swarm's own containers do.
    swarm_task: bool = False
