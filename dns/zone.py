"""Precomputed answers: each network's names, kept up to date one endpoint at a time.

Everything a query can hit is turned into wire-format answer records once,
when the topology changes, so the serving thread does a dictionary lookup
and a few byte joins per query.  Keys are ``lower-cased question name in
wire format + QTYPE + QCLASS``, exactly the bytes that follow the header of
a query, lower-cased (QTYPE/QCLASS bytes of A, AAAA and PTR hold no ASCII
letter, so lower-casing the whole question is safe).

A change costs what it touches, not what exists (a daemon may hold a
thousand sandboxes on one network): an endpoint that comes or goes
recomputes only its own names in its network's tables (with every owner of
a shared alias, so round robin stays whole); sandboxes on the same networks
in the same order form one group, whose merged answers are copied at C
speed and patched at the few keys that moved; and a sandbox's view is its
group (with links, the link aliases of the sandboxes that share them over
the group's answers), so a change makes no object per sandbox.  The merge follows Docker's lookup order: plain names of
every network (first connected network first), then ``name.network``, then
PTR, then NODATA for a name we own without the asked address family.

The serving thread and the TCP servers read a view's ``current`` snapshot,
which is replaced whole and never changed, so they take no lock.
"""

from __future__ import annotations

import ipaddress
import itertools
import random
import struct
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .api import TTL, EndpointNames, Link, Membership, NetworkNames, SandboxDNS, SandboxNames

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
    wire = encode_name(address.reverse_pointer)
    assert wire is not None  # short ASCII labels: always encodable
    return wire


def _wires(endpoint: EndpointNames) -> tuple[bytes, ...]:
    """The endpoint's valid names, lower-cased, in wire format, each once."""
    wires = (encode_name(name) for name in endpoint.names)
    return tuple(dict.fromkeys(wire.lower() for wire in wires if wire is not None))


def _set(table: dict[bytes, Answer], key: bytes, answer: Answer | None) -> None:
    if answer is None:
        table.pop(key, None)
    else:
        table[key] = answer


def _own(index: dict[bytes, dict], name: bytes, member: Hashable, value: object | None) -> None:
    """Make ``member`` an owner of ``name`` with ``value``, or no owner (None)."""
    owners = index.setdefault(name, {})
    if value is None:
        owners.pop(member, None)
        if not owners:
            del index[name]
    else:
        owners[member] = value


class NetworkZone:
    """One network's answers, in four tiers, kept up to date one endpoint at a time.

    ``put`` records an endpoint coming, going or changing and marks its
    names; ``refresh`` recomputes the marked names and says which keys
    changed.  Only the event loop reads these tables (to merge them into
    groups' answers), so they change in place.  Members are sandboxes (or
    positions, in a one-shot build); a shared name lists its owners in
    join order, as a build from scratch would.
    """

    def __init__(self, nid: str, name: str):
        self.nid, self.name = nid, name
        self._suffix = encode_name(name)
        self.members: dict[Hashable, tuple[int, EndpointNames]] = {}   # member -> (join order, endpoint)
        self._joins = itertools.count()
        self._owners: dict[bytes, dict[Hashable, int]] = {}            # plain name -> owners' join order
        self._ptr_owners: dict[bytes, dict[Hashable, tuple[int, bytes]]] = {}   # PTR key -> (join order, record)
        self._qualifies: dict[bytes, bytes] = {}                       # owned name.network -> its plain name
        self.plain: dict[bytes, Answer] = {}        # name + QTYPE/QCLASS
        self.qualified: dict[bytes, Answer] = {}    # name.network + QTYPE/QCLASS
        self.ptr: dict[bytes, Answer] = {}          # reverse name + PTR/IN
        self.nodata: dict[bytes, Answer] = {}       # every name we own, plain and qualified, A and AAAA
        self.tiers = (self.plain, self.qualified, self.ptr, self.nodata)   # Docker's lookup order
        self.groups: set[Group] = set()
        self._marked_names: set[bytes] = set()
        self._marked_ptrs: set[bytes] = set()

    def put(self, member: Hashable, endpoint: EndpointNames | None) -> None:
        """``member``'s endpoint is now ``endpoint`` (None: it left the network)."""
        old = self.members.get(member)
        if (old[1] if old else None) == endpoint:
            return
        join = old[0] if old else next(self._joins)
        if old is not None:
            self._index(member, old[1], None)
        if endpoint is None:
            del self.members[member]
        else:
            self.members[member] = (join, endpoint)
            self._index(member, endpoint, join)

    def _index(self, member: Hashable, endpoint: EndpointNames, join: int | None) -> None:
        for wire in _wires(endpoint):
            _own(self._owners, wire, member, join)
            self._marked_names.add(wire)
        record = self._ptr_record(endpoint)
        if record is None:
            return
        for address in (endpoint.ipv4, endpoint.ipv6):
            if address is not None:
                key = reverse_name(address) + PTR_IN
                _own(self._ptr_owners, key, member, None if join is None else (join, record))
                self._marked_ptrs.add(key)

    def _ptr_record(self, endpoint: EndpointNames) -> bytes | None:
        """PTR answers ``first-name.network``, as Docker's."""
        if not endpoint.names or self._suffix is None:
            return None
        target = encode_name(f"{endpoint.names[0]}.{self.name}")
        return None if target is None else _PTR_PREFIX + struct.pack("!H", len(target)) + target

    def _qualify(self, wire: bytes) -> bytes | None:
        if self._suffix is None or len(wire) + len(self._suffix) > 256:
            return None
        return wire[:-1] + self._suffix.lower()

    def refresh(self) -> set[bytes]:
        """Recompute the names ``put`` marked; the keys whose answers may have changed."""
        changed: set[bytes] = set()
        for wire in self._marked_names:
            self._refresh_name(wire, changed)
        for key in self._marked_ptrs:
            owners = self._ptr_owners.get(key)
            # An address on two endpoints (only a one-shot build can say so): the first one answers.
            _set(self.ptr, key, Answer((min(owners.values())[1],)) if owners else None)
            changed.add(key)
        self._marked_names.clear()
        self._marked_ptrs.clear()
        return changed

    def _refresh_name(self, wire: bytes, changed: set[bytes]) -> None:
        owners = self._owners.get(wire, {})
        endpoints = [self.members[member][1] for member in sorted(owners, key=owners.__getitem__)]
        v4 = dict.fromkeys(e.ipv4 for e in endpoints if e.ipv4 is not None)
        v6 = dict.fromkeys(e.ipv6 for e in endpoints if e.ipv6 is not None)
        a = Answer(tuple(_A_PREFIX + ip.packed for ip in v4)) if v4 else None
        aaaa = Answer(tuple(_AAAA_PREFIX + ip.packed for ip in v6)) if v6 else None
        qualified = self._qualify(wire)
        if qualified is not None:
            if owners:
                self._qualifies[qualified] = wire
            else:
                self._qualifies.pop(qualified, None)
        for name, table in ((wire, self.plain), (qualified, self.qualified)):
            if name is None:
                continue
            # An alias may itself read name.network, so both kinds of ownership count.
            owned = name in self._owners or name in self._qualifies
            for qtype, answer in ((A_IN, a), (AAAA_IN, aaaa)):
                _set(table, name + qtype, answer)
                _set(self.nodata, name + qtype, NODATA if owned else None)
                changed.add(name + qtype)

    def lookup(self, wire: bytes) -> tuple[Answer | None, Answer | None] | None:
        """(A answer, AAAA answer) of a name, None when the network lacks it."""
        if wire + A_IN not in self.nodata:
            return None
        a, aaaa = (self.plain.get(wire + t) or self.qualified.get(wire + t) for t in (A_IN, AAAA_IN))
        return a, aaaa


def merge(zones: Sequence[NetworkZone]) -> dict[bytes, Answer]:
    """Answers over networks in connection order: the earliest tier, then the first network, wins."""
    merged: dict[bytes, Answer] = {}
    for tier in reversed(range(4)):
        for zone in reversed(zones):
            merged.update(zone.tiers[tier])
    return merged


def _merged_answer(zones: Sequence[NetworkZone], key: bytes) -> Answer | None:
    """What ``merge`` gives ``key``, without merging everything."""
    for tier in range(4):
        for zone in zones:
            answer = zone.tiers[tier].get(key)
            if answer is not None:
                return answer
    return None


def link_answers(links: Iterable[Link], zones: Sequence[NetworkZone]) -> dict[bytes, Answer]:
    """Answers of link aliases: the target's own answers, from the first network that has it."""
    result: dict[bytes, Answer] = {}
    for link in links:
        alias, target = encode_name(link.alias), encode_name(link.target)
        if alias is None or target is None:
            continue
        alias, target = alias.lower(), target.lower()
        for zone in zones:
            if link.network is not None and zone.name != link.network:
                continue
            found = zone.lookup(target)
            if found is None:
                continue
            a, aaaa = found
            result.setdefault(alias + A_IN, a or NODATA)
            result.setdefault(alias + AAAA_IN, aaaa or NODATA)
            break
    return result


@dataclass(frozen=True)
class Snapshot:
    """Answers that never change once published, and the responses cached from them.

    ``responses`` caches whole responses (less the query ID) by the query
    bytes after the ID, for answers that do not vary; it belongs to these
    answers, so new answers start with an empty one.  Only the UDP serving
    thread touches it.
    """

    answers: dict[bytes, Answer]
    responses: dict = field(default_factory=dict, compare=False, repr=False)


_NOTHING = Snapshot({})


class SandboxView:
    """What a sandbox's resolver answers from: ``current``, replaced whole, never changed."""

    __slots__ = ("current",)

    def __init__(self) -> None:
        self.current = _NOTHING

    @property
    def answers(self) -> Mapping[bytes, Answer]:
        return self.current.answers


class Group(SandboxView):
    """Sandboxes on the same networks in the same order: one merged answer set serves them all."""

    __slots__ = ("nids", "zones", "sids", "linked")

    def __init__(self, nids: tuple[str, ...], zones: tuple[NetworkZone, ...]):
        super().__init__()
        self.nids, self.zones = nids, zones
        self.sids: set[str] = set()                                 # with or without links
        self.linked: dict[tuple[Link, ...], LinkedView] = {}

    def patch(self, keys: Iterable[bytes]) -> None:
        # copy(), not dict(): it clones the table even after a few deletions, where dict() re-inserts every key.
        answers = self.current.answers.copy()
        for key in keys:
            _set(answers, key, _merged_answer(self.zones, key))
        self.current = Snapshot(answers)


class LinkedView(SandboxView):
    """Sandboxes of a group with the same links (replicas of a service): link aliases over the group's answers.

    Redone when the group's answers change: each costs a copy of them.
    """

    __slots__ = ("group", "links", "sids")

    def __init__(self, group: Group, links: tuple[Link, ...]):
        super().__init__()
        self.group, self.links = group, links
        self.sids: set[str] = set()

    def refresh(self) -> None:
        extra = link_answers(self.links, self.group.zones)
        base = self.group.current
        self.current = Snapshot({**base.answers, **extra}) if extra else base


def _placement(view: Group | LinkedView) -> tuple[tuple[str, ...], tuple[Link, ...]]:
    if isinstance(view, LinkedView):
        return view.group.nids, view.links
    return view.nids, ()


class Zones:
    """Every network's zone, the groups of sandboxes, and each sandbox's view.

    ``update`` and ``forget`` take one sandbox's change (what the controller
    sends); ``build`` takes whole networks.  Each returns ``views`` (sandbox
    ID -> view), a mapping that is replaced, never changed, when a sandbox
    comes, goes or changes group; the answers inside a view change without it.
    """

    def __init__(self) -> None:
        self._zones: dict[str, NetworkZone] = {}
        self._groups: dict[tuple[str, ...], Group] = {}
        self._placed: dict[str, Group | LinkedView] = {}
        self._memberships: dict[str, tuple[Membership, ...]] = {}
        self._given: dict[str, NetworkNames] = {}        # build(): each network as last given whole
        self._dirty: set[NetworkZone] = set()
        self._new: set[Group] = set()
        self._stale: set[LinkedView] = set()
        self._moved = False
        self.views: Mapping[str, SandboxView] = {}

    def update(self, spec: SandboxNames) -> Mapping[str, SandboxView]:
        """The sandbox's endpoints and links are now these; every view that sees them follows."""
        kept = {m.nid for m in spec.memberships}
        for old in self._memberships.get(spec.sid, ()):
            if old.nid not in kept:
                self._zone(old.nid, old.network).put(spec.sid, None)
        for membership in spec.memberships:
            self._zone(membership.nid, membership.network).put(spec.sid, membership.endpoint)
        self._memberships[spec.sid] = spec.memberships
        self._place(spec.sid, tuple(m.nid for m in spec.memberships), spec.links)
        return self._commit()

    def forget(self, sid: str) -> Mapping[str, SandboxView]:
        for old in self._memberships.pop(sid, ()):
            self._zone(old.nid, old.network).put(sid, None)
        self._leave(sid)
        return self._commit()

    def build(self, specs: Iterable[SandboxDNS]) -> dict[str, SandboxView]:
        """Views of exactly these sandboxes from whole networks, keeping what did not change."""
        specs = list(specs)
        given: dict[str, NetworkNames] = {}
        for spec in specs:
            for network in spec.networks:
                given.setdefault(network.nid, network)
        for nid in self._given.keys() - given.keys():
            self._fill(NetworkNames(nid, self._given[nid].name))
            del self._given[nid]
        for network in given.values():
            self._fill(network)
        for sid in self._placed.keys() - {spec.sid for spec in specs}:
            self._leave(sid)
        for spec in specs:
            self._place(spec.sid, tuple(n.nid for n in spec.networks), spec.links)
        views = self._commit()
        return {spec.sid: views[spec.sid] for spec in specs}

    def _fill(self, network: NetworkNames) -> None:
        """The network's zone holds exactly its endpoints, keyed by position."""
        old = self._given.get(network.nid)
        if old == network:
            return
        zone = self._zone(network.nid, network.name)
        for position, endpoint in enumerate(network.endpoints):
            zone.put(position, endpoint)
        for position in range(len(network.endpoints), len(old.endpoints) if old else 0):
            zone.put(position, None)
        self._given[network.nid] = network

    def _zone(self, nid: str, name: str) -> NetworkZone:
        zone = self._zones.get(nid)
        if zone is None:
            zone = self._zones[nid] = NetworkZone(nid, name)
        self._dirty.add(zone)
        return zone

    def _place(self, sid: str, nids: tuple[str, ...], links: tuple[Link, ...]) -> None:
        placed = self._placed.get(sid)
        if placed is not None and _placement(placed) == (nids, links):
            return
        self._leave(sid)
        group = self._groups.get(nids)
        if group is None:
            group = self._groups[nids] = Group(nids, tuple(self._zones[nid] for nid in nids))
            for zone in group.zones:
                zone.groups.add(group)
            self._new.add(group)
        group.sids.add(sid)
        view: Group | LinkedView = group
        if links:
            linked = group.linked.get(links)
            if linked is None:
                linked = group.linked[links] = LinkedView(group, links)
                self._stale.add(linked)
            linked.sids.add(sid)
            view = linked
        self._placed[sid] = view
        self._moved = True

    def _leave(self, sid: str) -> None:
        view = self._placed.pop(sid, None)
        if view is None:
            return
        self._moved = True
        group = view.group if isinstance(view, LinkedView) else view
        if isinstance(view, LinkedView):
            view.sids.discard(sid)
            if not view.sids:
                del group.linked[view.links]
                self._stale.discard(view)
        group.sids.discard(sid)
        if group.sids:
            return
        del self._groups[group.nids]
        self._new.discard(group)
        for zone in group.zones:
            zone.groups.discard(group)
            self._dirty.add(zone)   # it may be unused now

    def _commit(self) -> Mapping[str, SandboxView]:
        touched: dict[Group, set[bytes]] = {}
        for zone in self._dirty:
            keys = zone.refresh()
            if not zone.members and not zone.groups:
                del self._zones[zone.nid]
            elif keys:
                for group in zone.groups:
                    touched.setdefault(group, set()).update(keys)
        self._dirty.clear()
        for group, keys in touched.items():
            if group not in self._new:
                group.patch(keys)
                self._stale.update(group.linked.values())
        for group in self._new:
            group.current = Snapshot(merge(group.zones))
            self._stale.update(group.linked.values())
        self._new.clear()
        for view in self._stale:
            view.refresh()
        self._stale.clear()
        if self._moved:
            self.views = dict(self._placed)
            self._moved = False
        return self.views
