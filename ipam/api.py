"""The IPAM driver contract: what an address allocator implements.

The shape follows Docker's IPAM plugin protocol (``IpamDriver.RequestPool``,
``ReleasePool``, ``RequestAddress``, ``ReleaseAddress``) so remote IPAM plugins
and built-in ones are driven by the same controller code.

Contract the controller keeps:
  * calls for one pool never run concurrently (the controller serialises
    every state change), so a driver needs no locking of its own;
  * on failure half way through a request, the controller releases what it
    obtained, in reverse order;
  * when ``Capabilities.restore_by_replay`` is true the driver keeps no state
    of its own across restarts: at start the controller repeats, for every
    recorded pool and address, the same ``request_pool`` /
    ``request_address`` calls with the recorded values (pool IDs must
    therefore be a pure function of the request).

Errors are the classes of ``libnetwork.errors``: ``InvalidParameter`` for
malformed input, ``AddressInUse``, ``PoolOverlap``, ``NoAvailableAddress``,
``NotFound`` for an unknown pool ID.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Mapping, Protocol, runtime_checkable

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

# Docker's address space names (ipamapi.DefaultIPAM's local and global spaces).
LOCAL_ADDRESS_SPACE = "LocalDefault"
GLOBAL_ADDRESS_SPACE = "GlobalDefault"

# Docker's option keys, as they appear in request options.
REQUEST_ADDRESS_TYPE = "RequestAddressType"
GATEWAY_ADDRESS_TYPE = "com.docker.network.gateway"
SERIAL_OPTION = "com.docker.network.ipam.serial"


@dataclass(frozen=True)
class Capabilities:
    requires_mac_address: bool = False
    requires_request_replay: bool = False
    restore_by_replay: bool = False


@dataclass(frozen=True)
class PoolRequest:
    address_space: str
    pool: IPNetwork | None = None       # None: pick one of the default pools
    sub_pool: IPNetwork | None = None   # --ip-range: dynamic addresses come only from here
    options: Mapping[str, str] = field(default_factory=dict)
    v6: bool = False


@dataclass(frozen=True)
class Pool:
    pool_id: str
    pool: IPNetwork
    meta: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AddressRequest:
    pool_id: str
    address: IPAddress | None = None    # None: the driver picks (lowest free by default)
    options: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class IpamDriver(Protocol):
    def capabilities(self) -> Capabilities: ...

    def default_address_spaces(self) -> tuple[str, str]:
        """(local space, global space) names."""
        ...

    def request_pool(self, request: PoolRequest) -> Pool: ...

    def release_pool(self, pool_id: str) -> None: ...

    def request_address(self, request: AddressRequest) -> IPInterface:
        """An address of the pool with the pool's prefix length."""
        ...

    def release_address(self, pool_id: str, address: IPAddress) -> None: ...


@dataclass(frozen=True)
class IpamContext:
    """What the daemon hands an IPAM driver factory."""

    # Docker's default-address-pools: (base, size) pairs in order.
    default_pools: tuple[tuple[IPNetwork, int], ...] = ()
    global_pools: tuple[tuple[IPNetwork, int], ...] = ()
    # Networks the host already uses (routes, addresses, nameservers); a
    # default pool overlapping one of these is never handed out.  A callable
    # so that it is read at allocation time.
    host_networks: object = None  # Callable[[], Iterable[IPNetwork]] | None
