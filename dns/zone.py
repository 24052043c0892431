"""Precomputed answers: the names of each network, and each sandbox's view of them.

Everything a query can hit is turned into wire-format answer records once,
when the topology changes, so the serving thread does a dictionary lookup
and a few byte joins per query.  Keys are ``lower-cased question name in
wire format + QTYPE + QCLASS``, exactly the bytes that follow the header of
a query, lower-cased (QTYPE/QCLASS bytes of A, AAAA and PTR hold no ASCII
letter, so lower-casing the whole question is safe).

A network's table is built once per change of that network and shared by
every sandbox on it; sandboxes on the same list of networks share one
merged view.  The merge follows Docker's lookup order: plain names of every
network (first connected network first), then ``name.network``, then PTR.
"""

from __future__ import annotations

import ipaddress
import itertools
import random
import struct
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from .api import TTL, Link, NetworkNames, SandboxDNS

QTYPE_A = 1
QTYPE_PTR = 12
QTYPE_AAAA = 28
QCLASS_IN = 1

A_IN = struct.pack("!HH", QTYPE_A, QCLASS_IN)
AAAA_IN = struct.pack("!HH", QTYPE_AAAA, QCLASS_IN)
PTR_IN = struct.pack("!HH", QTYPE_PTR, QCLASS_IN)

_TTL = struct.pack("!I", TTL)
# Every answer's owner name is a pointer to the question name at offset 12.
_A_PREFIX = b"\xc0\x0c" + A_IN + _TTL + b"\x00\x04"
_AAAA_PREFIX = b"\xc0\x0c" + AAAA_IN + _TTL + b"\x00\x10"
_PTR_PREFIX = b"\xc0\x0c" + PTR_IN + _TTL

# Several endpoints sharing a name are answered in a different order from
# query to query (Docker shuffles per response).  All orders up to 4
# addresses, a fixed number of random ones beyond.
_ALL_ORDERS_UP_TO = 4
_SHUFFLED_ORDERS = 16


class Answer:
    """The answer records for one question, in one or more orders.

    ``counts`` holds the 8 header bytes after the flags (QD=1, AN, NS=0, AR)
    without and with an EDNS0 OPT record, so a response is a join of bytes.
    """

    __slots__ = ("count", "variants", "rr_size", "counts")

    def __init__(self, records: tuple[bytes, ...], orders: int | None = None):
        self.count = len(records)
        self.rr_size = len(records[0]) if records else 0
        self.variants = tuple(b"".join(v) for v in _orders(records, orders))
        an = struct.pack("!H", self.count)
        self.counts = (b"\x00\x01" + an + b"\x00\x00\x00\x00", b"\x00\x01" + an + b"\x00\x00\x00\x01")

    def __repr__(self) -> str:
        return f"Answer(count={self.count}, variants={len(self.variants)})"


def _orders(records: tuple[bytes, ...], orders: int | None) -> list[tuple[bytes, ...]]:
    if len(records) <= 1:
        return [records]
    if len(records) <= _ALL_ORDERS_UP_TO:
        return list(itertools.permutations(records))
    rng = random.Random()
    result = [records]
    for _ in range((orders or _SHUFFLED_ORDERS) - 1):
        shuffled = list(records)
        rng.shuffle(shuffled)
        result.append(tuple(shuffled))
    return result


NODATA = Answer(())


def encode_name(name: str) -> bytes | None:
    """Wire format of ``name`` (case kept), or None when it cannot be a DNS name."""
    labels = name.rstrip(".").split(".")
    try:
        encoded = [label.encode("ascii") for label in labels]
    except UnicodeEncodeError:
        encoded = [label.encode("idna") if label else b"" for label in labels]
    if any(not label or len(label) > 63 for label in encoded):
        return None
    wire = b"".join(bytes((len(label),)) + label for label in encoded) + b"\x00"
    return wire if len(wire) <= 255 else None


def reverse_name(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bytes:
    return encode_name(address.reverse_pointer)


@dataclass(frozen=True)
class NetworkTable:
    """One network's answers, shared by every sandbox attached to it."""

    source: NetworkNames
    plain: Mapping[bytes, Answer]         # name + QTYPE/QCLASS
    qualified: Mapping[bytes, Answer]     # name.network + QTYPE/QCLASS
    ptr: Mapping[bytes, Answer]           # reverse name + PTR/IN
    names: frozenset[bytes]               # lower-cased wires of every name it owns, plain and qualified

    def lookup(self, wire: bytes) -> tuple[Answer | None, Answer | None] | None:
        """(A answer, AAAA answer) of a plain name, None when the network lacks it."""
        if wire not in self.names:
            return None
        return tuple(self.plain.get(wire + t) or self.qualified.get(wire + t) for t in (A_IN, AAAA_IN))


def build_network_table(network: NetworkNames) -> NetworkTable:
    v4: dict[bytes, list] = {}
    v6: dict[bytes, list] = {}
    ptr: dict[bytes, Answer] = {}
    suffix = encode_name(network.name)
    for endpoint in network.endpoints:
        wires = []
        for name in dict.fromkeys(endpoint.names):
            wire = encode_name(name)
            if wire is not None:
                wires.append(wire.lower())
        for wire in wires:
            addrs4 = v4.setdefault(wire, [])
            addrs6 = v6.setdefault(wire, [])
            if endpoint.ipv4 is not None and endpoint.ipv4 not in addrs4:
                addrs4.append(endpoint.ipv4)
            if endpoint.ipv6 is not None and endpoint.ipv6 not in addrs6:
                addrs6.append(endpoint.ipv6)
        if not endpoint.names or suffix is None:
            continue
        target = encode_name(f"{endpoint.names[0]}.{network.name}")
        if target is None:
            continue
        record = _PTR_PREFIX + struct.pack("!H", len(target)) + target
        for address in (endpoint.ipv4, endpoint.ipv6):
            if address is not None:
                ptr.setdefault(reverse_name(address) + PTR_IN, Answer((record,)))
    plain: dict[bytes, Answer] = {}
    qualified: dict[bytes, Answer] = {}
    names = set()
    for wire in v4:
        a = Answer(tuple(_A_PREFIX + ip.packed for ip in v4[wire])) if v4[wire] else None
        aaaa = Answer(tuple(_AAAA_PREFIX + ip.packed for ip in v6[wire])) if v6[wire] else None
        names.add(wire)
        long_wire = wire[:-1] + suffix.lower() if suffix is not None and len(wire) + len(suffix) <= 256 else None
        for answer, qtype in ((a, A_IN), (aaaa, AAAA_IN)):
            if answer is None:
                continue
            plain[wire + qtype] = answer
            if long_wire is not None:
                qualified[long_wire + qtype] = answer
        if long_wire is not None:
            names.add(long_wire)
    return NetworkTable(network, plain, qualified, ptr, frozenset(names))


def merge(tables: Iterable[NetworkTable]) -> dict[bytes, Answer]:
    """One sandbox's answers over its networks in connection order (Docker's lookup order)."""
    tables = list(tables)
    merged: dict[bytes, Answer] = {}
    for part in ("plain", "qualified", "ptr"):
        for table in tables:
            for key, answer in getattr(table, part).items():
                merged.setdefault(key, answer)
    # A name we own without the asked address family is NODATA, not forwarded.
    for table in tables:
        for wire in table.names:
            merged.setdefault(wire + A_IN, NODATA)
            merged.setdefault(wire + AAAA_IN, NODATA)
    return merged


def link_answers(links: Iterable[Link], tables: list[NetworkTable]) -> dict[bytes, Answer]:
    """Answers of link aliases: the target's own answers, from the first network that has it."""
    result: dict[bytes, Answer] = {}
    for link in links:
        alias, target = encode_name(link.alias), encode_name(link.target)
        if alias is None or target is None:
            continue
        alias, target = alias.lower(), target.lower()
        for table in tables:
            if link.network is not None and table.source.name != link.network:
                continue
            found = table.lookup(target)
            if found is None:
                continue
            a, aaaa = found
            result.setdefault(alias + A_IN, a or NODATA)
            result.setdefault(alias + AAAA_IN, aaaa or NODATA)
            break
    return result


@dataclass(frozen=True)
class SandboxView:
    """What one sandbox's resolver answers from, and where it forwards the rest.

    ``responses`` caches whole responses (less the query ID) by the query
    bytes after the ID, for answers that do not vary; it belongs to this
    view, so a new snapshot starts with an empty one.  Only the UDP serving
    thread touches it.
    """

    spec: SandboxDNS
    answers: Mapping[bytes, Answer]
    responses: dict = field(default_factory=dict, compare=False, repr=False)


class Zones:
    """Builds views for every sandbox, reusing tables and merges that did not change."""

    def __init__(self) -> None:
        self._tables: dict[str, NetworkTable] = {}
        self._merged: dict[tuple[int, ...], dict[bytes, Answer]] = {}

    def build(self, sandboxes: Iterable[SandboxDNS]) -> dict[str, SandboxView]:
        sandboxes = list(sandboxes)
        tables: dict[str, NetworkTable] = {}
        merged: dict[tuple[int, ...], dict[bytes, Answer]] = {}
        views = {}
        for spec in sandboxes:
            mine = []
            for network in spec.networks:
                table = tables.get(network.nid)
                if table is None:
                    old = self._tables.get(network.nid)
                    table = old if old is not None and old.source == network else build_network_table(network)
                    tables[network.nid] = table
                mine.append(table)
            key = tuple(id(t) for t in mine)
            answers = merged.get(key)
            if answers is None:
                answers = self._merged.get(key)
                if answers is None:
                    answers = merge(mine)
                merged[key] = answers
            if spec.links:
                extra = link_answers(spec.links, mine)
                if extra:
                    answers = {**answers, **extra}
            views[spec.sid] = SandboxView(spec, answers)
        # Keeping only what is in use also keeps the id()-based keys valid:
        # every table named by a key is alive in ``tables``.
        self._tables, self._merged = tables, merged
        return views
