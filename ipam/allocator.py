"""The address set of one pool: which addresses of a subnet are handed out.

Pure bookkeeping, no I/O, so the default IPAM driver (and anything else that
hands out addresses) is tested without root and replayed at start-up.

Why free intervals instead of a bitmap: Docker keeps a run-length encoded
bitmap per pool; a plain bitmap of a /8 (16M addresses) or of a /64 cannot be
held at all.  Here the *free* space is a set of disjoint inclusive intervals
of ordinals (offsets from the network address) in a ``SortedDict`` keyed by
interval start.  Every allocation splits at most one interval, so there are
at most ``allocated + 1`` intervals: memory follows the number of allocated
addresses, never the size of the pool.  Each operation is one bisect plus a
constant number of edits: O(log n).

Semantics follow Docker's ``bitmap``/``addrset`` (moby:v26.1.5:libnetwork/
bitmap/sequence.go, ipam/allocator.go):
  * the network address (ordinal 0) and, for IPv4, the broadcast address are
    reserved, except in a /31 or /32; IPv6 reserves ordinal 0 (the
    subnet-router anycast address);
  * a dynamic pick is the lowest free address (of the sub-range when given),
    so a released address is reused at once;
  * a serial pick continues after the last dynamic pick and wraps around
    (``com.docker.network.ipam.serial``); every dynamic pick moves the cursor,
    specific requests do not;
  * releasing an address that is not allocated is not an error.
"""

from __future__ import annotations

import ipaddress

from sortedcontainers import SortedDict

from libnetwork import errors
from libnetwork.ipam.api import IPAddress, IPNetwork

# Docker's ipamapi texts (moby:v26.1.5:libnetwork/ipamapi/contract.go).
OUT_OF_RANGE = "requested address is out of range"


class AddressSet:
    """Allocated addresses of one pool, stored as the free intervals around them."""

    __slots__ = ("_pool", "_base", "_size", "_free", "_allocated", "_cursor", "_reserved")

    def __init__(self, pool: IPNetwork, *, reserve: bool = True) -> None:
        self._pool = pool
        self._base = int(pool.network_address)
        self._size = pool.num_addresses
        # start ordinal -> end ordinal (inclusive) of each free run.
        self._free: SortedDict = SortedDict({0: self._size - 1})
        self._allocated = 0
        self._cursor = 0
        reserved: list[int] = []
        if reserve:
            if pool.version == 6:
                reserved = [0]
            elif pool.prefixlen <= 30:
                reserved = [0, self._size - 1]
        for ordinal in reserved:
            self._take(ordinal)
        self._reserved = frozenset(reserved)

    # -- queries -------------------------------------------------------------

    @property
    def pool(self) -> IPNetwork:
        return self._pool

    def __len__(self) -> int:
        """Addresses in use, reserved ones included (Docker's IPsInUse)."""
        return self._allocated

    @property
    def free_count(self) -> int:
        return self._size - self._allocated

    @property
    def interval_count(self) -> int:
        """Free runs held; what the memory use is proportional to."""
        return len(self._free)

    def __contains__(self, address: object) -> bool:
        """Whether ``address`` is allocated (or reserved)."""
        ordinal = self._ordinal_or_none(address)
        return ordinal is not None and not self._is_free(ordinal)

    def is_reserved(self, address: IPAddress) -> bool:
        return self._ordinal_or_none(address) in self._reserved

    # -- operations ----------------------------------------------------------

    def allocate_any(self, within: IPNetwork | None = None, *, serial: bool = False) -> IPAddress:
        """Take the lowest free address of ``within`` (default: the whole pool).

        With ``serial`` the search starts after the last dynamic pick and wraps
        to the start of the range, as Docker's ``SetAnyInRange(serial=true)``.
        """
        lo, hi = self._range(within)
        ordinal = None
        if serial and lo < self._cursor <= hi:
            ordinal = self._first_free_from(self._cursor, hi)
        if ordinal is None:
            ordinal = self._first_free_from(lo, hi)
        if ordinal is None:
            raise errors.NoAvailableAddress()
        self._take(ordinal)
        self._cursor = ordinal + 1
        return self._address(ordinal)

    def allocate(self, address: IPAddress) -> IPAddress:
        """Take one given address anywhere in the pool (not only the sub-range)."""
        ordinal = self._ordinal(address)
        if not self._is_free(ordinal):
            raise errors.AddressInUse()
        self._take(ordinal)
        return address

    def release(self, address: IPAddress) -> None:
        """Give an address back; freeing a free or reserved address does nothing.

        Reserved addresses stay reserved: handing out the network or
        broadcast address later would break every container on the subnet.
        """
        ordinal = self._ordinal(address)
        if ordinal in self._reserved or self._is_free(ordinal):
            return
        self._give(ordinal)

    # -- ordinals ------------------------------------------------------------

    def _ordinal_or_none(self, address: object) -> int | None:
        if not isinstance(address, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            return None
        if address.version != self._pool.version:
            return None
        ordinal = int(address) - self._base
        return ordinal if 0 <= ordinal < self._size else None

    def _ordinal(self, address: IPAddress) -> int:
        ordinal = self._ordinal_or_none(address)
        if ordinal is None:
            raise errors.InvalidParameter(OUT_OF_RANGE)
        return ordinal

    def _address(self, ordinal: int) -> IPAddress:
        return ipaddress.ip_address(self._base + ordinal)

    def _range(self, within: IPNetwork | None) -> tuple[int, int]:
        if within is None:
            return 0, self._size - 1
        if within.version != self._pool.version or not within.subnet_of(self._pool):  # type: ignore[arg-type]
            raise errors.InvalidParameter(f"range {within} is not in subnet {self._pool}")
        lo = int(within.network_address) - self._base
        return lo, lo + within.num_addresses - 1

    # -- free intervals ------------------------------------------------------

    def _is_free(self, ordinal: int) -> bool:
        i = self._free.bisect_right(ordinal) - 1
        return i >= 0 and self._free.peekitem(i)[1] >= ordinal

    def _first_free_from(self, lo: int, hi: int) -> int | None:
        """Lowest free ordinal in [lo, hi], or None."""
        free = self._free
        i = free.bisect_right(lo) - 1
        if i >= 0 and free.peekitem(i)[1] >= lo:
            return lo
        if i + 1 < len(free):
            start = free.peekitem(i + 1)[0]
            if start <= hi:
                return start
        return None

    def _take(self, ordinal: int) -> None:
        """Mark a free ordinal used by splitting the run that holds it."""
        free = self._free
        start, end = free.peekitem(free.bisect_right(ordinal) - 1)
        if start == ordinal:
            del free[start]
        else:
            free[start] = ordinal - 1
        if end > ordinal:
            free[ordinal + 1] = end
        self._allocated += 1

    def _give(self, ordinal: int) -> None:
        """Mark a used ordinal free, merging it with the runs on either side."""
        free = self._free
        i = free.bisect_right(ordinal)
        start, end = ordinal, ordinal
        if i < len(free):
            right_start, right_end = free.peekitem(i)
            if right_start == ordinal + 1:
                del free[right_start]
                end = right_end
        if i > 0:
            left_start, left_end = free.peekitem(i - 1)
            if left_end == ordinal - 1:
                start = left_start
        free[start] = end
        self._allocated -= 1
