"""Docker's host port allocator (libnetwork/portallocator), pure bookkeeping.

Ports are counted per (host address, protocol).  An ephemeral port comes
from the kernel's ``ip_local_port_range``, sequentially: each search starts
after the last port handed out in that range and wraps, so a port just
released is not handed out again at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from libnetwork.errors import PortUnavailable

DEFAULT_RANGE = (49153, 65535)   # Docker's fallback when the kernel's range is unreadable


def parse_port_range(text: str) -> tuple[int, int]:
    """``/proc/sys/net/ipv4/ip_local_port_range`` ("32768\\t60999")."""
    try:
        first, last = (int(x) for x in text.split())
    except ValueError:
        return DEFAULT_RANGE
    if not 0 < first <= last <= 65535:
        return DEFAULT_RANGE
    return first, last


@dataclass
class _Protocol:
    taken: set[int] = field(default_factory=set)
    # last port handed out per range searched, as Docker's portRange.last
    last: dict[tuple[int, int], int] = field(default_factory=dict)


class PortAllocator:
    def __init__(self, ephemeral: tuple[int, int] = DEFAULT_RANGE):
        self.ephemeral = ephemeral
        self._ports: dict[tuple[str, str], _Protocol] = {}

    def _table(self, ip: str, proto: str) -> _Protocol:
        return self._ports.setdefault((ip, proto), _Protocol())

    def request(self, ip: str, proto: str, start: int = 0, end: int = 0) -> int:
        """One port: ``start`` itself, one of ``start..end``, or (0) an ephemeral one."""
        table = self._table(ip, proto)
        if start and (not end or end == start):
            if start in table.taken:
                raise PortUnavailable(f"Bind for {_join(ip, start)} failed: port is already allocated")
            table.taken.add(start)
            return start
        first, last = (start, end) if start else self.ephemeral
        if first > last:
            raise PortUnavailable(f"invalid port range: {first}-{last}")
        span = last - first + 1
        previous = table.last.get((first, last), last)
        for offset in range(1, span + 1):
            port = first + (previous - first + offset) % span
            if port not in table.taken:
                table.taken.add(port)
                table.last[(first, last)] = port
                return port
        raise PortUnavailable("all ports are allocated")

    def release(self, ip: str, proto: str, port: int) -> None:
        table = self._ports.get((ip, proto))
        if table is not None:
            table.taken.discard(port)

    def taken(self, ip: str, proto: str) -> frozenset[int]:
        return frozenset(self._table(ip, proto).taken)


def _join(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
