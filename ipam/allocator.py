"""The address set of one pool: which addresses of a subnet are handed out.

Pure bookkeeping, no I/O, so the default IPAM driver (and anything else that
hands out addresses) is tested without root and replayed at start-up.

Why free intervals instead of a bitmap: Docker keeps a run-length encoded
bitmap per pool; a plain bitmap of a /8 (16M addresses) or of a /64 cannot be
held at all.  Here the *free* space is a set of disjoint inclusive runs of
ordinals (offsets from the network address): their ends in a ``SortedList``,
and two dicts end->start and start->end.  Every allocation splits at most one
run, so there are at most ``allocated + 1`` runs: memory follows the number
of allocated addresses, never the size of the pool.  An operation is at most
one bisect of the ends plus O(1) dict edits (O(log n)); the common cycle of
taking the lowest free address and giving it back edits only the dicts.

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
from bisect import bisect_left

from sortedcontainers import SortedList

from libnetwork import errors
from libnetwork.ipam.api import IPAddress, IPNetwork

# Docker's ipamapi texts (moby:v26.1.5:libnetwork/ipamapi/contract.go).
OUT_OF_RANGE = "requested address is out of range"


class _SortedInts(SortedList):
    """A SortedList with a ceiling lookup.

    ``irange()`` builds an iterator chain per call and ``bisect`` + indexing
    walks the positional index; both cost 3-5x this at 200k entries.  This
    reads the two-level layout sortedcontainers documents (``_maxes``, the
    last value of each sublist, and ``_lists``) and does two bisects.
    """

    def ceiling(self, value: int) -> int | None:
        """Smallest element >= value, or None."""
        maxes = self._maxes
        pos = bisect_left(maxes, value)
        if pos == len(maxes):
            return None
        sublist = self._lists[pos]
        return sublist[bisect_left(sublist, value)]


class AddressSet:
    """Allocated addresses of one pool, stored as the free intervals around them."""

    __slots__ = ("_pool", "_base", "_size", "_ends", "_start_of", "_end_of", "_allocated", "_cursor", "_reserved")

    def __init__(self, pool: IPNetwork, *, reserve: bool = True) -> None:
        self._pool = pool
        self._base = int(pool.network_address)
        self._size = pool.num_addresses
        self._ends = _SortedInts([self._size - 1])  # last ordinal of each free run
        self._start_of: dict[int, int] = {self._size - 1: 0}  # run end -> run start
        self._end_of: dict[int, int] = {0: self._size - 1}  # run start -> run end
        self._allocated = 0
        self._cursor = 0
        reserved: list[int] = []
        if reserve:
            if pool.version == 6:
                reserved = [0]
            elif pool.prefixlen <= 30:
                reserved = [0, self._size - 1]
        for ordinal in reserved:
            self._take(*self._first_free_from(ordinal, ordinal))  # type: ignore[misc]
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
        return len(self._ends)

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
        found = None
        if serial and lo < self._cursor <= hi:
            found = self._first_free_from(self._cursor, hi)
        if found is None:
            found = self._first_free_from(lo, hi)
        if found is None:
            raise errors.NoAvailableAddress()
        ordinal, end = found
        self._take(ordinal, end)
        self._cursor = ordinal + 1
        return self._address(ordinal)

    def allocate(self, address: IPAddress) -> IPAddress:
        """Take one given address anywhere in the pool (not only the sub-range)."""
        ordinal = self._ordinal(address)
        found = self._first_free_from(ordinal, ordinal)
        if found is None:
            raise errors.AddressInUse()
        self._take(*found)
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
    # Runs are sorted by their *end*: taking the lowest address of a run, and
    # giving it back, moves only its start, which lives in the dicts.  So the
    # usual cycle (lowest free, later released) never edits the SortedList.

    def _ceiling(self, ordinal: int) -> int | None:
        """End of the first run ending at or after ``ordinal``."""
        return self._ends.ceiling(ordinal)

    def _is_free(self, ordinal: int) -> bool:
        end = self._ceiling(ordinal)
        return end is not None and self._start_of[end] <= ordinal

    def _first_free_from(self, lo: int, hi: int) -> tuple[int, int] | None:
        """Lowest free ordinal in [lo, hi] and the end of its run, or None."""
        end = self._ceiling(lo)
        if end is None:
            return None
        found = max(self._start_of[end], lo)
        return (found, end) if found <= hi else None

    def _take(self, ordinal: int, end: int) -> None:
        """Mark a free ordinal of the run ending at ``end`` used, splitting the run."""
        start = self._start_of[end]
        del self._end_of[start]
        if end == ordinal:
            self._ends.remove(end)
            del self._start_of[end]
        else:
            self._start_of[end] = ordinal + 1
            self._end_of[ordinal + 1] = end
        if start < ordinal:
            self._ends.add(ordinal - 1)
            self._start_of[ordinal - 1] = start
            self._end_of[start] = ordinal - 1
        self._allocated += 1

    def _give(self, ordinal: int) -> None:
        """Mark a used ordinal free, merging it with the runs on either side."""
        left_start = self._start_of.pop(ordinal - 1, None)
        right_end = self._end_of.pop(ordinal + 1, None)
        start = ordinal if left_start is None else left_start
        end = ordinal if right_end is None else right_end
        if left_start is not None:
            self._ends.remove(ordinal - 1)
        if right_end is None:
            self._ends.add(ordinal)
        self._start_of[end] = start
        self._end_of[start] = end
        self._allocated -= 1
