"""What the controller asks of the cluster for swarm-scoped networks, and the IPAM driver over it.

The core never imports ``libnetwork.cluster``: the daemon hands the
controller an object with this protocol (``cluster.scope.SwarmNetworks``),
and a controller without one (the in-process Python API, a node in no swarm)
refuses global networks as dockerd does on a node that is not a manager.

Addresses in swarm-scoped networks are the cluster's: ``SwarmIpam`` is an
IPAM driver like any other to the endpoint code, but each call is a
compare-and-swap in etcd on a manager (or a call to one over the cluster
port on a worker), so two nodes never hand out the same address.  IPAM
calls run in a worker thread; this driver waits there for the call it
schedules on the daemon's loop, and has a worker of its own so a slow
manager delays only swarm networks.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from .errors import Forbidden, InvalidParameter
from .ipam.api import AddressRequest, Capabilities, Pool, PoolRequest

T = TypeVar("T")
SWARM_IPAM = "swarm"
CALL_TIMEOUT = 30.0
NOT_A_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect '
                 'this node to swarm and try again.')

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class GlobalSubnet:
    subnet: str
    gateway: str
    ip_range: str = ""


@dataclass(frozen=True)
class GlobalNetworkView:
    """A swarm network's definition, as every node instantiates it."""

    id: str
    name: str
    driver: str
    created: str
    subnets: tuple[GlobalSubnet, ...]
    attachable: bool = False
    internal: bool = False
    ingress: bool = False
    enable_ipv6: bool = False
    options: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CreateRequest:
    name: str
    driver: str
    subnets: tuple[GlobalSubnet, ...]
    attachable: bool
    internal: bool
    ingress: bool
    enable_ipv6: bool
    options: Mapping[str, str]
    labels: Mapping[str, str]


class SwarmScope(Protocol):
    @property
    def active(self) -> bool: ...

    def local_address(self) -> tuple[str, str] | None:
        """(advertise address, data path address) of this node in its swarm; None outside one."""
        ...

    async def create_network(self, nid: str, request: CreateRequest) -> GlobalNetworkView: ...

    async def find_network(self, reference: str) -> GlobalNetworkView: ...

    async def delete_network(self, nid: str) -> None: ...

    async def allocate_address(self, nid: str, wanted: str | None, v6: bool) -> str: ...

    async def release_address(self, nid: str, address: str) -> None: ...

    async def follow(self, appeared: Callable[[GlobalNetworkView], Awaitable[None]],
                     gone: Callable[[set[str]], Awaitable[None]]) -> None:
        """Runs for the daemon's life: the swarm networks this node keeps an instance of without endpoints."""
        ...


class NoSwarm:
    """The scope of a controller outside any swarm: global networks are refused as dockerd refuses them."""

    active = False

    def local_address(self) -> tuple[str, str] | None:
        return None

    async def create_network(self, nid: str, request: CreateRequest) -> GlobalNetworkView:
        raise Forbidden(NOT_A_MANAGER)

    async def find_network(self, reference: str) -> GlobalNetworkView:
        raise Forbidden(NOT_A_MANAGER)

    async def delete_network(self, nid: str) -> None:
        raise Forbidden(NOT_A_MANAGER)

    async def allocate_address(self, nid: str, wanted: str | None, v6: bool) -> str:
        raise Forbidden(NOT_A_MANAGER)

    async def release_address(self, nid: str, address: str) -> None:
        raise Forbidden(NOT_A_MANAGER)

    async def follow(self, appeared: Callable[[GlobalNetworkView], Awaitable[None]],
                     gone: Callable[[set[str]], Awaitable[None]]) -> None:
        return None


def pool_id(nid: str, subnet: str) -> str:
    return f"{nid}/{subnet}"


def _network_of(pool: str) -> tuple[str, str]:
    nid, _, subnet = pool.partition("/")
    if not nid or not subnet:
        raise InvalidParameter(f"not a swarm pool: {pool}")
    return nid, subnet


class SwarmIpam:
    """IPAM of swarm-scoped networks: pools come with the definition; addresses from the cluster."""

    def __init__(self, scope: SwarmScope, loop: asyncio.AbstractEventLoop):
        self.scope = scope
        self.loop = loop

    def capabilities(self) -> Capabilities:
        return Capabilities(own_worker=True)

    def default_address_spaces(self) -> tuple[str, str]:
        return "GlobalDefault", "GlobalDefault"

    def request_pool(self, request: PoolRequest) -> Pool:
        raise InvalidParameter("swarm networks get their pools from the managers")

    def release_pool(self, pool_id: str) -> None:
        """The pool is the definition's: it goes when the managers delete the network."""

    def request_address(self, request: AddressRequest) -> IPInterface:
        nid, subnet = _network_of(request.pool_id)
        v6 = ":" in subnet
        wanted = str(request.address) if request.address is not None else None
        answer = self._wait(self.scope.allocate_address(nid, wanted, v6))
        return ipaddress.ip_interface(answer)

    def release_address(self, pool_id: str, address: IPAddress) -> None:
        nid, _ = _network_of(pool_id)
        self._wait(self.scope.release_address(nid, str(address)))

    def _wait(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(CALL_TIMEOUT)
