"""The IPAM driver contract: what an address allocator implements, and what the daemon guarantees it.

The shape follows Docker's IPAM plugin protocol (``IpamDriver.GetCapabilities``,
``GetDefaultAddressSpaces``, ``RequestPool``, ``ReleasePool``,
``RequestAddress``, ``ReleaseAddress``) so that remote IPAM plugins
(``libnetwork.ipam.remote``) and in-process ones are driven by the same
controller code.

Writing one (see docs/plugins.md): a package declares an entry point in the
``libnetwork.ipam`` group, ``NAME = "package.module:create_driver"``; the
daemon calls ``create_driver(IpamContext)`` once at start and serves the
result for ``network create --ipam-driver NAME``.

What the daemon guarantees:

* Threading: every call runs in the daemon's one kernel worker thread, one
  at a time (the controller serialises every state change), so a driver
  needs no locking; calls may block, but everything else waits meanwhile.
* Ordering: for a network, ``request_pool`` per subnet (IPv4 first, then
  IPv6), then ``request_address`` for its gateway (with the option
  ``RequestAddressType=com.docker.network.gateway``) and for each auxiliary
  address; for an endpoint, ``request_address`` per family before the
  network driver is called.  On removal, addresses are released before
  their pool.
* Failure and rollback: when any step of a request fails (in IPAM or in
  the network driver), the controller releases what IPAM had handed out
  for that request, in reverse order.  It never retries a failed call.
* Restarts: when ``Capabilities.restore_by_replay`` is true the driver keeps
  no state of its own across restarts: at start the controller repeats, for
  every recorded pool and address, the same ``request_pool`` /
  ``request_address`` calls with the recorded values, before serving
  requests (pool IDs must therefore be a pure function of the request).
  When false, the driver keeps its own state (remote plugins do) and is not
  called at start.

Errors are the classes of ``libnetwork.errors``: ``InvalidParameter`` for
malformed input, ``AddressInUse``, ``PoolOverlap``, ``NoAvailableAddress``
(the controller then tries the network's next pool), ``NotFound`` for an
unknown pool ID (the controller ignores that one when it releases).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

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
    # Docker's two capabilities, as a remote plugin reports them.
    requires_mac_address: bool = False
    requires_request_replay: bool = False
    # See the module docstring: replay every recorded request at start.
    restore_by_replay: bool = False
    # True: calls may block for long (an out-of-process plugin over HTTP).
    # They run in a worker thread of the driver's own instead of the shared
    # kernel worker, so a hung plugin delays only its own networks.
    own_worker: bool = False


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
    def capabilities(self) -> Capabilities:
        """Asked when the driver is loaded and at start; must not fail."""
        ...

    def default_address_spaces(self) -> tuple[str, str]:
        """(local space, global space) names; local-scope networks ask for pools in the first."""
        ...

    def request_pool(self, request: PoolRequest) -> Pool:
        """Reserve ``request.pool`` (or pick a free default pool when None).

        Raise ``PoolOverlap`` when it overlaps a pool already handed out in
        the same address space, ``NoAvailableAddress`` when no default pool is left.
        """
        ...

    def release_pool(self, pool_id: str) -> None:
        """Give the pool back; its addresses were released first."""
        ...

    def request_address(self, request: AddressRequest) -> IPInterface:
        """An address of the pool with the pool's prefix length.

        ``request.address`` None: any free one (Docker: the lowest free, or
        the next one round-robin with ``com.docker.network.ipam.serial``);
        else exactly that one, or ``AddressInUse``.
        """
        ...

    def release_address(self, pool_id: str, address: IPAddress) -> None:
        """Free an address of the pool; ``NotFound`` when the pool is unknown."""
        ...


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
