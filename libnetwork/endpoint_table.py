"""The overlay's endpoint table: what this node believes about every node's endpoints.

Each node is authoritative for its own endpoints (the sandboxes attached on
it) and tells the others by small gossip events; a node that joins, restarts
or heals from a partition pulls every owner's whole table ("full sync").
Events may arrive late, twice, out of order or never.  This module decides,
without any I/O, what the local node believes, following Docker's networkdb:
every entry has one owner, entries of one key are ordered by the owner's
clock (last writer wins), and deletes leave tombstones so that a late delete
never resurrects an entry and a late add never overrides a newer delete.

Rules, in the order ``apply`` checks them:

1. An entry this node owns is ignored: this node is the authority for its
   own, and gossip only echoes what it said (its version still advances the
   clock, see ``OwnerClock.witness``).
2. An owner removed by ``remove_owner`` (Serf: failed or left) is *down*
   until ``readmit_owner``: everything it sends meanwhile is ignored, even a
   version above its tombstones.  A late event of a dead node cannot be told
   apart from a live one, and applying it would leave a ghost endpoint that
   nothing ever removes if the node never comes back; when it does come
   back, the full sync the consumer makes on readmitting it carries whatever
   was dropped meanwhile.
3. The owner's *horizon*: a merged full sync made at owner time ``as_of``
   already reflects every change that owner stamped up to ``as_of``, so any
   event of it at or below that version is stale, even for a key this node
   holds nothing for (a late add whose delete fell before the sync).
4. Per key (network, endpoint): the entry applies only if its version is
   greater than what is held, a live entry or a tombstone.

A key is expected to have one owner for its life (endpoint IDs are random
and an endpoint never moves between nodes); versions of different owners
are still compared if two ever claim one key, so the outcome is
deterministic, but no order between them is promised.

Tombstones come in two kinds.  The owner's own (its delete event, or absence
from its full sync) is authoritative.  ``remove_owner``'s are presumed: they
are stamped with the version of the live entry they replace, and block any
older event of that key; a full sync of the owner after it is readmitted
brings back, at the same version, the entries it still holds (a partition or
a false failure detection, not a restart), which an authoritative tombstone
of that version would refuse.

Versions are per owner: the table never compares one owner's clock with
another's, so clocks need no synchronisation between nodes.

Not thread safe: one event loop (or one lock) owns a table.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Literal

from . import errors
from .service_binding import ServiceBinding

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Key = tuple[str, str]
"""(network ID, endpoint ID)"""

TOMBSTONE_TTL = 30 * 60.0
"""Seconds a tombstone is kept: networkdb's reapEntryInterval (see ``EndpointTable.prune_tombstones``)."""


@dataclass(frozen=True)
class Entry:
    """One endpoint as its owner announces it; ``deleted`` makes it a tombstone.

    A tombstone keeps the content of the entry it deletes (a delete event
    carries it too), so a consumer told "removed" still knows what to undo.
    """

    network: str
    endpoint: str
    owner: str
    """The node ID of the node the endpoint lives on."""
    version: int
    """The owner's clock when it stamped this state of the entry."""
    ip: ipaddress.IPv4Interface | None
    ipv6: ipaddress.IPv6Interface | None
    mac: str
    vtep: IPAddress
    """The owner's VXLAN tunnel endpoint: where frames for this endpoint are sent."""
    name: str
    """The sandbox's name, for DNS."""
    aliases: tuple[str, ...]
    sandbox: str
    deleted: bool = False
    service: ServiceBinding | None = None
    """A swarm task's endpoint: the service it is a backend of, so every node learns its VIP and names."""

    @property
    def key(self) -> Key:
        return (self.network, self.endpoint)

    def same_content(self, other: Entry) -> bool:
        """Equal but for the version: nothing a consumer would program differently."""
        return replace(self, version=other.version) == other


@dataclass(frozen=True)
class Change:
    """What ``EndpointTable`` changed in the live view, for its consumers (DNS, peer programming).

    ``added``: ``entry`` is new, ``previous`` is None.  ``updated``:
    ``entry`` replaces ``previous``.  ``removed``: ``previous`` is the live
    entry consumers were told about and must undo; ``entry`` is its
    tombstone (its content may be newer than ``previous`` when updates were
    missed, so undo ``previous``).
    """

    kind: Literal["added", "updated", "removed"]
    entry: Entry
    previous: Entry | None = None


@dataclass(frozen=True)
class Snapshot:
    """An owner's live entries for a full sync.

    ``as_of`` is a tick of the owner's clock taken for the snapshot, so every
    change the owner stamped before has a version <= as_of and every change
    after it a greater one.  ``networks`` is the scope asked for (None: every
    network); an entry outside it, another owner's entry, a tombstone or a
    version above ``as_of`` breaks the contract and is refused.
    """

    owner: str
    as_of: int
    entries: tuple[Entry, ...]
    networks: frozenset[str] | None = None

    def __post_init__(self) -> None:
        for entry in self.entries:
            if entry.owner != self.owner:
                raise errors.InvalidParameter(f"snapshot of {self.owner} holds an entry of {entry.owner}")
            if entry.deleted:
                raise errors.InvalidParameter(f"snapshot of {self.owner} holds a tombstone")
            if entry.version > self.as_of:
                raise errors.InvalidParameter(
                    f"snapshot of {self.owner} as of {self.as_of} holds version {entry.version}")
            if self.networks is not None and entry.network not in self.networks:
                raise errors.InvalidParameter(f"snapshot of {self.owner} holds network {entry.network} not asked for")

    def covers(self, network: str) -> bool:
        return self.networks is None or network in self.networks


def _wall_microseconds() -> int:
    return time.time_ns() // 1000


class OwnerClock:
    """The version stamps this node puts on its own entries: strictly increasing, across restarts too.

    A hybrid logical clock, ``max(last + 1, wall time in µs)``.  Nothing is
    persisted, yet a restarted owner out-versions the entries of its earlier
    life that the other nodes still hold, because wall time has moved past
    them; without that, its first new entries would be refused as stale
    until the old ones were forgotten.  The ``+ 1`` keeps it strictly
    increasing when the wall clock stalls or steps back while running.

    The one assumption is that the wall clock does not step back across a
    restart by more than the restart took; ``witness`` lessens even that:
    the table feeds it the versions of this node's own entries coming back
    from gossip, so later stamps pass them.
    """

    def __init__(self, wall: Callable[[], int] = _wall_microseconds):
        self._wall = wall
        self._last = 0

    def tick(self) -> int:
        self._last = max(self._last + 1, self._wall())
        return self._last

    def witness(self, version: int) -> None:
        self._last = max(self._last, version)


@dataclass
class _Tombstone:
    entry: Entry
    since: float
    """``EndpointTable``'s wall clock when it was made, for pruning."""
    presumed: bool
    """Made by ``remove_owner``, not by the owner: its own full sync may restore the entry at this version."""


@dataclass
class _Horizons:
    """Per owner: the greatest ``as_of`` of its merged full syncs, for all its networks and per network."""

    everywhere: int = 0
    per_network: dict[str, int] = field(default_factory=dict)

    def of(self, network: str) -> int:
        return max(self.everywhere, self.per_network.get(network, 0))

    def advance(self, snapshot: Snapshot) -> None:
        if snapshot.networks is None:
            self.everywhere = max(self.everywhere, snapshot.as_of)
            self.per_network = {net: h for net, h in self.per_network.items() if h > self.everywhere}
        else:
            for net in snapshot.networks:
                if snapshot.as_of > self.of(net):
                    self.per_network[net] = snapshot.as_of


class EndpointTable:
    """The endpoint table of one node: its own entries and what it believes of the others'.

    ``wall`` (seconds, monotonic) only dates tombstones for
    ``prune_tombstones``; ``clock`` stamps this node's own entries.  Both are
    injectable so tests run on virtual time.
    """

    def __init__(self, node_id: str, *, clock: OwnerClock | None = None,
                 wall: Callable[[], float] = time.monotonic, tombstone_ttl: float = TOMBSTONE_TTL):
        self.node_id = node_id
        self.clock = clock or OwnerClock()
        self._wall = wall
        self.tombstone_ttl = tombstone_ttl
        self._live: dict[Key, Entry] = {}
        self._tombstones: dict[Key, _Tombstone] = {}
        self._by_network: dict[str, dict[str, Entry]] = {}
        self._by_owner: dict[str, set[Key]] = {}
        self._down: set[str] = set()
        self._horizons: dict[str, _Horizons] = {}

    # -- what others tell ---------------------------------------------------------

    def apply(self, entry: Entry) -> Change | None:
        """An entry from a gossip event: the change it makes to the live view, or None.

        None for a stale, duplicate or own entry, one of an owner that is
        down, an update that changes nothing but the version, and a delete
        of an entry not live here (recorded as a tombstone all the same, so
        the add it overtook is refused when it arrives).
        """
        if entry.owner == self.node_id:
            self.clock.witness(entry.version)
            return None
        if entry.owner in self._down:
            return None
        if entry.version <= self._horizon(entry.owner, entry.network):
            return None
        return self._accept(entry, from_snapshot=False)

    def merge_snapshot(self, owner: str, snapshot: Snapshot) -> list[Change]:
        """A full sync from ``owner``: its entries apply, and its entries held live here but missing were deleted.

        A held entry missing from the snapshot is removed only if its version
        is <= ``as_of``: a greater one came by an event that overtook the
        snapshot and is newer than it.  A snapshot no newer than one already
        merged (per network) changes nothing; nor does one of an owner that
        is down, or of this node.
        """
        if snapshot.owner != owner:
            raise errors.InvalidParameter(f"full sync from {owner} answered with the table of {snapshot.owner}")
        if owner == self.node_id or owner in self._down:
            return []
        horizons = self._horizons.setdefault(owner, _Horizons())
        changes: list[Change] = []
        present: set[Key] = set()
        for entry in snapshot.entries:
            present.add(entry.key)
            if snapshot.as_of > horizons.of(entry.network):
                change = self._accept(entry, from_snapshot=True)
                if change is not None:
                    changes.append(change)
        for key in sorted(self._by_owner.get(owner, ())):
            live = self._live[key]
            if (key not in present and snapshot.covers(live.network) and live.version <= snapshot.as_of
                    and snapshot.as_of > horizons.of(live.network)):
                tombstone = replace(live, version=snapshot.as_of, deleted=True)
                changes.append(self._bury(tombstone, presumed=False))
        horizons.advance(snapshot)
        return changes

    def remove_owner(self, owner: str) -> list[Change]:
        """``owner`` is down (Serf: failed or left): its live entries go, and it stays down until readmitted.

        Each entry leaves a presumed tombstone at its own version, so late
        events of before the failure cannot bring it back; while the owner
        is down, nothing of it applies (see the module's rule 2).
        """
        if owner == self.node_id:
            return []
        self._down.add(owner)
        changes = []
        for key in sorted(self._by_owner.get(owner, ())):
            live = self._live[key]
            changes.append(self._bury(replace(live, deleted=True), presumed=True))
        return changes

    def readmit_owner(self, owner: str) -> None:
        """``owner`` is up again (Serf: alive): its events apply again; follow with a full sync of it.

        The full sync repairs what was ignored while it was down and removes
        what it no longer holds; its events apply from now on, and the ones
        older than that sync are refused once it is merged.
        """
        self._down.discard(owner)

    def is_down(self, owner: str) -> bool:
        return owner in self._down

    # -- what this node owns --------------------------------------------------------

    def local_put(self, network: str, endpoint: str, *, ip: ipaddress.IPv4Interface | None,
                  ipv6: ipaddress.IPv6Interface | None, mac: str, vtep: IPAddress, name: str,
                  aliases: Iterable[str] = (), sandbox: str, service: ServiceBinding | None = None) -> Entry:
        """This node's endpoint joined (or changed): stamp it, hold it, and answer the entry to publish."""
        entry = Entry(network=network, endpoint=endpoint, owner=self.node_id, version=self.clock.tick(),
                      ip=ip, ipv6=ipv6, mac=mac, vtep=vtep, name=name, aliases=tuple(aliases), sandbox=sandbox,
                      service=service)
        self._tombstones.pop(entry.key, None)
        self._unlink(entry.key)
        self._link(entry)
        return entry

    def local_delete(self, network: str, endpoint: str) -> Entry | None:
        """This node's endpoint left: the tombstone to publish, or None if this node holds no such endpoint."""
        live = self._live.get((network, endpoint))
        if live is None or live.owner != self.node_id:
            return None
        tombstone = replace(live, version=self.clock.tick(), deleted=True)
        self._bury(tombstone, presumed=False)
        return tombstone

    def snapshot(self, networks: Iterable[str] | None = None) -> Snapshot:
        """This node's own live entries (in ``networks`` only, if given), for another node's full sync."""
        scope = None if networks is None else frozenset(networks)
        entries = tuple(
            self._live[key] for key in sorted(self._by_owner.get(self.node_id, ()))
            if scope is None or key[0] in scope)
        return Snapshot(owner=self.node_id, as_of=self.clock.tick(), entries=entries, networks=scope)

    # -- reading ----------------------------------------------------------------------

    def entries(self, network: str) -> list[Entry]:
        """The live entries of ``network``, of every owner, by endpoint ID."""
        return sorted(self._by_network.get(network, {}).values(), key=lambda e: e.endpoint)

    def remote_entries(self, network: str) -> list[Entry]:
        """The live entries of ``network`` owned by other nodes: what the overlay programs peers from."""
        return [e for e in self.entries(network) if e.owner != self.node_id]

    def networks(self) -> set[str]:
        """The networks with at least one live entry."""
        return set(self._by_network)

    def get(self, network: str, endpoint: str) -> Entry | None:
        """The live entry of that key, if any."""
        return self._live.get((network, endpoint))

    def tombstone_count(self) -> int:
        return len(self._tombstones)

    # -- forgetting ---------------------------------------------------------------------

    def prune_tombstones(self) -> int:
        """Forget tombstones older than ``tombstone_ttl``, and those a merged full sync covers; answer how many.

        The trade-off: a tombstone kept forever costs memory for every
        endpoint that ever left; one dropped too early lets an event older
        than the delete, still in flight, resurrect the entry.  Thirty
        minutes (networkdb's choice) is far beyond how long Serf gossips an
        event, and an owner's horizon (rule 3) keeps refusing every stale
        event once a full sync of it is merged, so a tombstone at or below it
        is useless and goes at once.  If a resurrection still happens, the
        next full sync of that owner removes it.
        """
        deadline = self._wall() - self.tombstone_ttl
        expired = [
            key for key, tomb in self._tombstones.items()
            if tomb.since <= deadline or tomb.entry.version <= self._horizon(tomb.entry.owner, key[0])]
        for key in expired:
            del self._tombstones[key]
        return len(expired)

    # -- inside -----------------------------------------------------------------------------

    def _horizon(self, owner: str, network: str) -> int:
        horizons = self._horizons.get(owner)
        return 0 if horizons is None else horizons.of(network)

    def _accept(self, entry: Entry, *, from_snapshot: bool) -> Change | None:
        """Rule 4, and the change it makes: ``entry`` is of another owner that is up."""
        key = entry.key
        live = self._live.get(key)
        tomb = self._tombstones.get(key)
        held = live.version if live is not None else (tomb.entry.version if tomb is not None else None)
        if held is not None and entry.version <= held:
            # The one exception: the owner's own full sync restores what remove_owner presumed gone.
            restoring = (from_snapshot and tomb is not None and tomb.presumed and not entry.deleted
                         and entry.version == held and entry.owner == tomb.entry.owner)
            if not restoring:
                return None
        if entry.deleted:
            if live is None:
                self._tombstones[key] = _Tombstone(entry, self._wall(), presumed=False)
                return None
            return self._bury(entry, presumed=False)
        self._tombstones.pop(key, None)
        self._unlink(key)
        self._link(entry)
        if live is None:
            return Change("added", entry)
        if live.same_content(entry):
            return None
        return Change("updated", entry, live)

    def _bury(self, tombstone: Entry, *, presumed: bool) -> Change:
        live = self._unlink(tombstone.key)
        assert live is not None
        self._tombstones[tombstone.key] = _Tombstone(tombstone, self._wall(), presumed)
        return Change("removed", tombstone, live)

    def _link(self, entry: Entry) -> None:
        self._live[entry.key] = entry
        self._by_network.setdefault(entry.network, {})[entry.endpoint] = entry
        self._by_owner.setdefault(entry.owner, set()).add(entry.key)

    def _unlink(self, key: Key) -> Entry | None:
        live = self._live.pop(key, None)
        if live is None:
            return None
        group = self._by_network[live.network]
        del group[live.endpoint]
        if not group:
            del self._by_network[live.network]
        owned = self._by_owner[live.owner]
        owned.discard(key)
        if not owned:
            del self._by_owner[live.owner]
        return live
