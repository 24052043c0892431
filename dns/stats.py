"""Query counts of the embedded resolver: by answer code, and latency in powers of two.

The UDP thread answers ~90k queries/s, so counting there must cost a list
increment, not a metrics library call: each serving path (one thread each)
owns a ``QueryCounts`` of plain lists that only it writes, and a metrics
collector reads them at scrape time (a read from another thread sees a
value at most one query old).  Latency is kept as a histogram whose slot
``i`` counts answers that took ``[2**(i-1), 2**i)`` nanoseconds, so placing
one is ``int.bit_length``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RCODES = 16
LATENCY_SLOTS = 64

# RFC 1035/2136 names of the 4-bit answer codes; the rest by number.
RCODE_NAMES = ("NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
               "NXRRSET", "NOTAUTH", "NOTZONE") + tuple(f"RCODE{i}" for i in range(11, RCODES))


@dataclass(eq=False)
class QueryCounts:
    """What one serving path answered: ``transport`` udp|tcp, ``path`` local|forwarded."""

    transport: str
    path: str
    rcodes: list[int] = field(default_factory=lambda: [0] * RCODES)
    latency: list[int] = field(default_factory=lambda: [0] * LATENCY_SLOTS)
    latency_ns: int = 0

    def count(self, rcode: int, nanos: int) -> None:
        self.rcodes[rcode & 0x0F] += 1
        self.latency[min(nanos.bit_length(), LATENCY_SLOTS - 1)] += 1
        self.latency_ns += nanos

    def count_batch(self, answered: int, nanos: int) -> None:
        """Latency of a batch served in one go: each answer gets the batch's mean."""
        self.latency[min((nanos // answered).bit_length(), LATENCY_SLOTS - 1)] += answered
        self.latency_ns += nanos
