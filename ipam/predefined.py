"""Predefined address pools and the choice of a free subnet among them.

Pure functions, kept apart from the driver so the pool-selection rule (the
part of Docker's IPAM that changed between versions) is read and tested alone.

Docker 27+ (moby:v27.0.1:libnetwork/ipams/defaultipam/address_space.go): the
predefined bases are sorted, bases overlapping an earlier (shorter) one are
dropped, and a request without a subnet gets the *lowest* aligned subnet of
the first base that overlaps neither an allocated pool nor an excluded host
network; a released pool is therefore handed out again first.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from libnetwork import errors
from libnetwork.ipam.api import IPNetwork

# moby:v26.1.5:libnetwork/ipamutils/utils.go (unchanged at HEAD).
LOCAL_DEFAULT_POOLS: tuple[tuple[IPNetwork, int], ...] = (
    (ipaddress.ip_network("172.17.0.0/16"), 16),
    (ipaddress.ip_network("172.18.0.0/16"), 16),
    (ipaddress.ip_network("172.19.0.0/16"), 16),
    (ipaddress.ip_network("172.20.0.0/14"), 16),
    (ipaddress.ip_network("172.24.0.0/14"), 16),
    (ipaddress.ip_network("172.28.0.0/14"), 16),
    (ipaddress.ip_network("192.168.0.0/16"), 20),
)
GLOBAL_DEFAULT_POOLS: tuple[tuple[IPNetwork, int], ...] = (
    (ipaddress.ip_network("10.0.0.0/8"), 24),
)

# ipamapi.ErrNoMoreSubnets (400).
NO_MORE_SUBNETS = "all predefined address pools have been fully subnetted"


@dataclass(frozen=True)
class PoolToSplit:
    """Docker's NetworkToSplit: ``base`` cut into subnets of prefix ``size``."""

    base: IPNetwork
    size: int


def normalise(pools: Iterable[tuple[IPNetwork, int]]) -> tuple[PoolToSplit, ...]:
    """Validate, sort and de-overlap a default-address-pools list.

    Overlapping longer bases are dropped because the search below would
    otherwise find the shorter base full and then carve from its sub-base.
    """
    checked = []
    for index, (base, size) in enumerate(pools):
        if not base.max_prefixlen >= size >= base.prefixlen or size == 0:
            raise errors.InvalidParameter(
                f"network at index {index} ({base}/{size}) has a smaller prefix "
                f"(/{base.prefixlen}) than the target size of that pool (/{size})"
            )
        checked.append(PoolToSplit(base, size))
    checked.sort(key=lambda p: (p.base.version, int(p.base.network_address), p.base.prefixlen))
    kept: list[PoolToSplit] = []
    for pool in checked:
        if kept and kept[-1].base.version == pool.base.version and kept[-1].base.overlaps(pool.base):
            continue
        kept.append(pool)
    return tuple(kept)


def first_free_subnet(
    pools: Sequence[PoolToSplit], taken: Iterable[IPNetwork]
) -> IPNetwork | None:
    """Lowest subnet of the first base with room, avoiding every ``taken`` prefix.

    Cost is O((pools + taken) log taken): the blockers are walked once per
    base in address order, never the candidate subnets one by one (a /8 cut
    into /24s has 65,536 of them).
    """
    if not pools:
        return None
    version = pools[0].base.version
    blockers = sorted(
        (int(n.network_address), int(n.broadcast_address)) for n in taken if n.version == version
    )
    for pool in pools:
        found = _lowest_gap(pool, blockers)
        if found is not None:
            return ipaddress.ip_network((found, pool.size))
    return None


def _lowest_gap(pool: PoolToSplit, blockers: list[tuple[int, int]]) -> int | None:
    first = int(pool.base.network_address)
    last = int(pool.base.broadcast_address)
    step = 1 << (pool.base.max_prefixlen - pool.size)
    candidate = first
    for start, end in blockers:
        if end < candidate:
            continue
        if start > candidate + step - 1 or start > last:
            break
        # The candidate overlaps this blocker: jump to the next aligned subnet after it.
        candidate = ((end + 1 - first + step - 1) // step) * step + first
        if candidate > last:
            return None
    return candidate if candidate + step - 1 <= last else None


def ula_base(host_id: str) -> IPNetwork:
    """The host's ULA /48: fd00::/8 plus 40 bits of sha256(host_id).

    Same derivation as Docker 27+ (moby:v27.0.1:daemon/daemon.go
    ``deriveULABaseNetwork``) so a host gets the same IPv6 networks under
    either daemon.
    """
    digest = hashlib.sha256(host_id.encode()).digest()
    global_id = int.from_bytes(digest[:8], "big") & ((1 << 40) - 1)
    address = int(ipaddress.IPv6Address("fd00::")) + (global_id << 80)
    return ipaddress.IPv6Network((address, 48))


def host_id(machine_id: Path = Path("/etc/machine-id")) -> str:
    """A string unique to this host and stable across restarts."""
    try:
        value = machine_id.read_text().strip()
    except OSError:
        value = ""
    return value or socket.gethostname()
