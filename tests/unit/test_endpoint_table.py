"""The overlay's endpoint table: Lamport order, tombstones, full syncs, owners down and back; its wire format."""

from __future__ import annotations

import ipaddress
import random
from dataclasses import replace

import msgpack
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from libnetwork import errors
from libnetwork.endpoint_table import Change, EndpointTable, Entry, Key, OwnerClock, Snapshot
from libnetwork.endpoint_wire import MAX_EVENT_BYTES, decode_event, decode_snapshot, encode_event, encode_snapshot
from libnetwork.service_binding import IngressPort, ServiceBinding

VTEP_A = ipaddress.ip_address("192.0.2.1")
NET = "a" * 64
NET2 = "b" * 64


def entry(owner: str, endpoint: str, version: int, *, network: str = NET, deleted: bool = False,
          name: str = "web", ip: str | None = "10.0.0.2/24") -> Entry:
    return Entry(network=network, endpoint=endpoint, owner=owner, version=version,
                 ip=None if ip is None else ipaddress.IPv4Interface(ip), ipv6=None, mac="02:42:0a:00:00:02",
                 vtep=VTEP_A, name=name, aliases=("alias",), sandbox="c" * 64, deleted=deleted)


class FakeWall:
    def __init__(self, now: float = 0.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def table(node: str = "me", wall: FakeWall | None = None, start_us: int = 1_000) -> EndpointTable:
    return EndpointTable(node, clock=OwnerClock(lambda: start_us), wall=wall or FakeWall())


def put(t: EndpointTable, network: str, endpoint: str, name: str = "web") -> Entry:
    return t.local_put(network, endpoint, ip=ipaddress.IPv4Interface("10.0.0.9/24"), ipv6=None,
                       mac="02:42:0a:00:00:09", vtep=VTEP_A, name=name, aliases=(), sandbox="s1")


# -- apply: per-key last writer wins ------------------------------------------------------


def test_add_update_remove_answer_what_changed():
    t = table()
    first = entry("peer", "e1", 1)
    assert t.apply(first) == Change("added", first)
    second = entry("peer", "e1", 2, name="db")
    assert t.apply(second) == Change("updated", second, first)
    gone = entry("peer", "e1", 3, deleted=True)
    assert t.apply(gone) == Change("removed", gone, second)
    assert t.entries(NET) == [] and t.networks() == set()


def test_duplicates_and_stale_events_are_no_ops():
    t = table()
    t.apply(entry("peer", "e1", 5, name="new"))
    assert t.apply(entry("peer", "e1", 5, name="new")) is None
    assert t.apply(entry("peer", "e1", 4, name="old")) is None
    assert [e.name for e in t.entries(NET)] == ["new"]


def test_late_add_never_resurrects_a_deleted_entry():
    t = table()
    t.apply(entry("peer", "e1", 1))
    t.apply(entry("peer", "e1", 3, deleted=True))
    assert t.apply(entry("peer", "e1", 2)) is None
    assert t.apply(entry("peer", "e1", 1)) is None
    assert t.entries(NET) == []


def test_late_add_never_overrides_a_delete_that_overtook_it():
    t = table()
    assert t.apply(entry("peer", "e1", 2, deleted=True)) is None, "a delete of an unknown entry changes no view"
    assert t.tombstone_count() == 1
    assert t.apply(entry("peer", "e1", 1)) is None
    assert t.entries(NET) == []
    newer = entry("peer", "e1", 3)
    assert t.apply(newer) == Change("added", newer), "a put after the delete is a new life"


def test_a_change_of_version_alone_is_not_a_change_for_consumers():
    t = table()
    t.apply(entry("peer", "e1", 1))
    assert t.apply(entry("peer", "e1", 7)) is None
    assert t.get(NET, "e1") == entry("peer", "e1", 7), "held all the same, so older events stay refused"


def test_a_changed_service_binding_is_a_change_for_consumers():
    t = table()
    web = ServiceBinding("svc1", "web", vip=ipaddress.IPv4Interface("10.0.0.100/24"))
    t.apply(replace(entry("peer", "e1", 1), service=web))
    assert t.apply(replace(entry("peer", "e1", 2), service=web)) is None
    change = t.apply(replace(entry("peer", "e1", 3), service=replace(web, aliases=("www",))))
    assert change is not None and change.kind == "updated" and change.previous is not None
    assert change.previous.service == web and change.entry.service is not None
    assert change.entry.service.aliases == ("www",)
    change = t.apply(entry("peer", "e1", 4))
    assert change is not None and change.kind == "updated" and change.entry.service is None


def test_local_put_holds_the_binding_and_its_tombstone_keeps_it():
    t = table()
    web = ServiceBinding("svc1", "web", vip=ipaddress.IPv4Interface("10.0.0.100/24"))
    put_entry = t.local_put(NET, "e1", ip=None, ipv6=None, mac="", vtep=VTEP_A, name="web.1.x", sandbox="s1",
                            service=web)
    assert put_entry.service == web and t.get(NET, "e1") == put_entry
    tombstone = t.local_delete(NET, "e1")
    assert tombstone is not None and tombstone.deleted and tombstone.service == web


def test_own_entries_coming_back_from_gossip_are_ignored_but_advance_the_clock():
    t = table("me", start_us=100)
    mine = put(t, NET, "e1")
    assert t.apply(replace(mine, version=mine.version + 50, deleted=True)) is None
    assert t.get(NET, "e1") == mine
    assert t.apply(entry("me", "e2", 10_000)) is None
    assert t.entries(NET) == [mine]
    assert put(t, NET, "e3").version > 10_000, "a stamp of an earlier life seen in gossip is passed"


def test_entries_remote_entries_and_networks():
    t = table("me")
    mine = put(t, NET, "e0")
    theirs = entry("peer", "e1", 1)
    other_net = entry("peer", "e2", 1, network=NET2)
    t.apply(theirs)
    t.apply(other_net)
    assert t.entries(NET) == [mine, theirs]
    assert t.remote_entries(NET) == [theirs]
    assert t.networks() == {NET, NET2}


# -- the owner's own entries ----------------------------------------------------------------


def test_local_put_and_delete_stamp_increasing_versions():
    t = table("me")
    first = put(t, NET, "e1")
    second = put(t, NET, "e1", name="renamed")
    assert first.owner == "me" and second.version > first.version
    gone = t.local_delete(NET, "e1")
    assert gone is not None and gone.deleted and gone.version > second.version and gone.name == "renamed"
    assert t.entries(NET) == []
    assert t.local_delete(NET, "e1") is None
    assert t.local_delete(NET, "unknown") is None


def test_local_delete_does_not_delete_another_owners_entry():
    t = table("me")
    t.apply(entry("peer", "e1", 1))
    assert t.local_delete(NET, "e1") is None
    assert len(t.entries(NET)) == 1


def test_snapshot_holds_own_live_entries_and_a_tick_of_its_own():
    t = table("me")
    a = put(t, NET, "e1")
    b = put(t, NET2, "e2")
    put(t, NET, "e3")
    t.local_delete(NET, "e3")
    t.apply(entry("peer", "e9", 1))
    snap = t.snapshot()
    assert snap.owner == "me" and set(snap.entries) == {a, b} and snap.networks is None
    assert all(e.version < snap.as_of for e in snap.entries)
    assert put(t, NET, "e4").version > snap.as_of, "nothing stamped after the snapshot shares its as_of"
    scoped = t.snapshot([NET2])
    assert scoped.entries == (b,) and scoped.networks == frozenset({NET2})


def test_owner_clock_is_strictly_increasing_when_the_wall_clock_stalls_or_steps_back():
    readings = iter([100, 100, 90, 95, 300])
    clock = OwnerClock(lambda: next(readings))
    assert [clock.tick() for _ in range(5)] == [100, 101, 102, 103, 300]


def test_a_restarted_owner_out_versions_its_earlier_life_without_persisting_anything():
    before = OwnerClock(lambda: 1_000_000)
    stamps = [before.tick() for _ in range(100)]
    after = OwnerClock(lambda: 2_000_000)
    assert after.tick() > max(stamps)


def test_default_owner_clock_follows_wall_time():
    first = OwnerClock().tick()
    assert first > 1_600_000_000 * 10**6, "microseconds since the epoch"
    assert OwnerClock().tick() >= first


# -- full sync ------------------------------------------------------------------------------


def test_merge_snapshot_removes_what_was_deleted_meanwhile_and_keeps_what_overtook_it():
    t = table()
    kept = entry("peer", "e1", 10)
    deleted_meanwhile = entry("peer", "e2", 20)
    overtook = entry("peer", "e3", 60)
    for e in (kept, deleted_meanwhile, overtook):
        t.apply(e)
    updated = entry("peer", "e1", 30, name="db")
    new = entry("peer", "e4", 40)
    changes = t.merge_snapshot("peer", Snapshot("peer", 50, (updated, new)))
    assert sorted(changes, key=lambda c: c.entry.endpoint) == [
        Change("updated", updated, kept),
        Change("removed", replace(deleted_meanwhile, version=50, deleted=True), deleted_meanwhile),
        Change("added", new),
    ]
    assert [e.endpoint for e in t.entries(NET)] == ["e1", "e3", "e4"]


def test_events_older_than_a_merged_snapshot_are_refused_even_for_keys_never_seen():
    t = table()
    t.merge_snapshot("peer", Snapshot("peer", 50, ()))
    assert t.apply(entry("peer", "e1", 40)) is None, "added and deleted before the snapshot: a ghost"
    newer = entry("peer", "e1", 51)
    assert t.apply(newer) == Change("added", newer)


def test_a_snapshot_no_newer_than_one_merged_changes_nothing():
    t = table()
    t.merge_snapshot("peer", Snapshot("peer", 50, (entry("peer", "e1", 10),)))
    assert t.merge_snapshot("peer", Snapshot("peer", 40, (entry("peer", "e2", 10),))) == []
    assert t.merge_snapshot("peer", Snapshot("peer", 40, ())) == []
    assert [e.endpoint for e in t.entries(NET)] == ["e1"]


def test_a_snapshot_of_some_networks_touches_only_those():
    t = table()
    t.apply(entry("peer", "e1", 10))
    t.apply(entry("peer", "e2", 10, network=NET2))
    changes = t.merge_snapshot("peer", Snapshot("peer", 50, (), frozenset({NET2})))
    assert [c.kind for c in changes] == ["removed"] and changes[0].previous == entry("peer", "e2", 10, network=NET2)
    assert [e.endpoint for e in t.entries(NET)] == ["e1"]
    assert t.apply(entry("peer", "e3", 20)) is not None, "the horizon is of the synced network only"
    assert t.apply(entry("peer", "e4", 20, network=NET2)) is None


def test_merge_snapshot_leaves_other_owners_and_own_entries_alone():
    t = table("me")
    mine = put(t, NET, "e0")
    other = entry("third", "e5", 1)
    t.apply(other)
    assert t.merge_snapshot("peer", Snapshot("peer", 10**18, ())) == []
    assert t.merge_snapshot("me", Snapshot("me", 10**18, ())) == []
    assert t.entries(NET) == [mine, other]


def test_snapshot_contract_is_checked():
    with pytest.raises(errors.InvalidParameter, match="entry of other"):
        Snapshot("peer", 10, (entry("other", "e1", 1),))
    with pytest.raises(errors.InvalidParameter, match="tombstone"):
        Snapshot("peer", 10, (entry("peer", "e1", 1, deleted=True),))
    with pytest.raises(errors.InvalidParameter, match="version 11"):
        Snapshot("peer", 10, (entry("peer", "e1", 11),))
    with pytest.raises(errors.InvalidParameter, match="not asked for"):
        Snapshot("peer", 10, (entry("peer", "e1", 1),), frozenset({NET2}))
    with pytest.raises(errors.InvalidParameter, match="table of other"):
        table().merge_snapshot("peer", Snapshot("other", 10, ()))


# -- owners down and back -------------------------------------------------------------------


def test_owner_down_then_back_with_a_restarted_clock():
    t = table("me")
    before_restart = OwnerClock(lambda: 1_000)
    stays = entry("peer", "e1", before_restart.tick())
    lost_while_down = entry("peer", "e2", before_restart.tick())
    late = entry("peer", "e3", before_restart.tick())
    t.apply(stays)
    t.apply(lost_while_down)

    removed = t.remove_owner("peer")
    assert [(c.kind, c.previous) for c in removed] == [("removed", stays), ("removed", lost_while_down)]
    assert t.entries(NET) == [] and t.is_down("peer")
    assert t.apply(late) is None, "an event of before the failure, arriving late"
    assert t.apply(replace(stays, version=stays.version + 1)) is None, "nothing of a down owner applies"

    restarted = OwnerClock(lambda: 5_000)
    t.readmit_owner("peer")
    again = replace(stays, version=restarted.tick())
    assert t.apply(again) == Change("added", again), "its new clock out-versions its tombstones"
    assert t.apply(replace(lost_while_down, version=lost_while_down.version)) is None
    snap = Snapshot("peer", restarted.tick(), (again,))
    assert t.merge_snapshot("peer", snap) == []
    assert t.apply(late) is None, "refused by the merged snapshot's horizon"
    assert t.entries(NET) == [again]


def test_a_partitioned_owner_that_never_restarted_gets_its_entries_back_from_its_full_sync():
    t = table("me")
    held = entry("peer", "e1", 10)
    t.apply(held)
    t.remove_owner("peer")
    assert t.merge_snapshot("peer", Snapshot("peer", 20, (held,))) == [], "ignored while down"
    t.readmit_owner("peer")
    assert t.apply(held) is None, "a late copy of the same version is not proof it is still there"
    assert t.merge_snapshot("peer", Snapshot("peer", 20, (held,))) == [Change("added", held)]
    assert t.entries(NET) == [held]


def test_remove_owner_of_self_or_unknown_is_harmless():
    t = table("me")
    mine = put(t, NET, "e0")
    assert t.remove_owner("me") == [] and not t.is_down("me")
    assert t.remove_owner("nobody") == []
    assert t.entries(NET) == [mine]


# -- forgetting tombstones ------------------------------------------------------------------


def test_tombstones_are_kept_for_their_ttl_then_forgotten():
    wall = FakeWall(100.0)
    t = EndpointTable("me", clock=OwnerClock(lambda: 1), wall=wall, tombstone_ttl=1800.0)
    t.apply(entry("peer", "e1", 1))
    t.apply(entry("peer", "e1", 2, deleted=True))
    wall.now += 1799.0
    assert t.prune_tombstones() == 0
    assert t.apply(entry("peer", "e1", 1)) is None
    wall.now += 1.0
    assert t.prune_tombstones() == 1 and t.tombstone_count() == 0
    assert t.apply(entry("peer", "e1", 1)) is not None, "the price: an event delayed past the TTL resurrects"


def test_tombstones_under_a_merged_horizon_go_at_once():
    t = table()
    t.apply(entry("peer", "e1", 1))
    t.apply(entry("peer", "e1", 2, deleted=True))
    t.apply(entry("peer", "e2", 60, deleted=True))
    t.merge_snapshot("peer", Snapshot("peer", 50, ()))
    assert t.prune_tombstones() == 1 and t.tombstone_count() == 1
    assert t.apply(entry("peer", "e1", 1)) is None, "the horizon refuses it without the tombstone"


# -- a simulated cluster ------------------------------------------------------------------------

NODES = ("n0", "n1", "n2")
NETS = (NET, NET2)
# Repeated names weigh the draw: mostly traffic, now and then a failure, a restart or a sweep.
OPS = ("put",) * 4 + ("delete",) * 2 + ("deliver",) * 6 + ("sync", "merge") * 2 + (
    "fail", "readmit", "restart", "prune", "tidy")
TTL = 1.0


class Cluster:
    """Three nodes on virtual time, events in flight per receiver, and each node's consumer view built from Changes."""

    def __init__(self) -> None:
        self.now_us = 1_000_000
        self.tables = {node: self._start(node) for node in NODES}
        self.inbox: dict[str, list[Entry]] = {node: [] for node in NODES}
        self.views: dict[str, dict[Key, Entry]] = {node: {} for node in NODES}
        self.syncs: dict[str, list[Snapshot]] = {node: [] for node in NODES}
        """Full syncs answered but not yet merged, per asking node."""
        self.stamps: dict[Key, list[Entry]] = {}
        """Every state an owner gave each of its keys, in order."""
        self.horizons: dict[tuple[str, str, str], int] = {}
        """(node, owner, network) -> greatest as_of of the owner's syncs the node merged."""

    def _start(self, node: str) -> EndpointTable:
        return EndpointTable(node, clock=OwnerClock(lambda: self.now_us), wall=lambda: self.now_us / 1e6,
                             tombstone_ttl=TTL)

    def publish(self, origin: str, sent: Entry, fate: int) -> None:
        """``fate`` in base 3, one digit per receiver: lost, delivered once, or twice."""
        self.stamps.setdefault(sent.key, []).append(sent)
        for node in NODES:
            if node != origin:
                fate, copies = divmod(fate, 3)
                self.inbox[node].extend([sent] * copies)

    def record(self, node: str, changes: list[Change] | Change | None) -> None:
        """Consumers see only Changes: check each against what they were told before."""
        if changes is None:
            return
        view = self.views[node]
        for change in [changes] if isinstance(changes, Change) else changes:
            key = change.entry.key
            assert change.entry.owner != node
            if change.kind == "added":
                assert key not in view and change.previous is None and not change.entry.deleted
                view[key] = change.entry
            else:
                assert change.previous is not None and view[key].same_content(change.previous)
                if change.kind == "updated":
                    view[key] = change.entry
                else:
                    assert change.entry.deleted
                    assert self.tables[node].is_down(change.entry.owner) or any(
                        s.deleted and s.version > change.previous.version for s in self.stamps[key]
                    ), "removed, yet its owner never deleted it"
                    del view[key]

    def step(self, op: str, draw: int) -> None:
        """``draw`` packs the operation's arguments: one draw per step keeps Hypothesis fast."""
        draw, a = divmod(draw, 6)
        draw, b = divmod(draw, 8)
        draw, c = divmod(draw, 6)
        fate, d = divmod(draw, 4)
        self.now_us += d * 1000
        node = NODES[a % 3]
        other = NODES[(a + 1 + b % 2) % 3]
        t = self.tables[node]
        network, endpoint = NETS[c % 2], f"{node}-e{b % 4}"
        if op == "put":
            sent = t.local_put(network, endpoint, ip=ipaddress.IPv4Interface(f"10.0.{a % 3}.{b % 4 + 2}/16"),
                               ipv6=None, mac="02:42:0a:00:00:01", vtep=VTEP_A, name=f"name{d % 2}",
                               aliases=(), sandbox=endpoint)
            self.publish(node, sent, fate)
        elif op == "delete":
            gone = t.local_delete(network, endpoint)
            if gone is not None:
                self.publish(node, gone, fate)
        elif op == "deliver":
            if self.inbox[node]:
                self.record(node, t.apply(self.inbox[node].pop(fate % len(self.inbox[node]))))
        elif op == "sync":
            scope = None if c % 3 == 2 else [NETS[c % 3]]
            self.syncs[node].append(self.tables[other].snapshot(scope))
        elif op == "merge":
            if self.syncs[node]:
                self.merge(node, self.syncs[node].pop(fate % len(self.syncs[node])))
        elif op == "fail":
            self.record(node, t.remove_owner(other))
        elif op == "readmit":
            t.readmit_owner(other)
            if c % 2:
                self.merge(node, self.tables[other].snapshot())
        elif op == "restart":
            # Restarting takes far longer than a tick; the sandboxes whose bit is set in ``fate`` survived it.
            self.now_us += 1_000_000
            survivors = []
            for i, e in enumerate(self.own(node)):
                if fate >> i & 1:
                    survivors.append(e)
                else:
                    # Gone with the old process: no delete event, but gone all the same.
                    self.stamps[e.key].append(replace(e, version=self.now_us, deleted=True))
            self.tables[node] = fresh = self._start(node)
            self.views[node] = {}
            self.syncs[node] = []
            self.horizons = {k: h for k, h in self.horizons.items() if k[0] != node}
            for e in survivors:
                sent = fresh.local_put(e.network, e.endpoint, ip=e.ip, ipv6=e.ipv6, mac=e.mac, vtep=e.vtep,
                                       name=e.name, aliases=e.aliases, sandbox=e.sandbox)
                self.publish(node, sent, d)
        elif op == "prune":
            self.now_us += int(TTL * 1e6)
            t.prune_tombstones()
        elif op == "tidy":
            t.prune_tombstones()
        self.check_invariants()

    def merge(self, node: str, snap: Snapshot) -> None:
        if not self.tables[node].is_down(snap.owner):
            for network in NETS if snap.networks is None else snap.networks:
                key = (node, snap.owner, network)
                self.horizons[key] = max(self.horizons.get(key, 0), snap.as_of)
        self.record(node, self.tables[node].merge_snapshot(snap.owner, snap))

    def check_invariants(self) -> None:
        """What holds at every moment, not only once converged."""
        for node in NODES:
            t = self.tables[node]
            for held in self.live(node):
                if held.owner == node:
                    continue
                assert not t.is_down(held.owner), "an owner that is down has nothing live"
                horizon = self.horizons.get((node, held.owner, held.network), 0)
                if held.version <= horizon:
                    latest = [s for s in self.stamps[held.key] if s.owner == held.owner and s.version <= horizon][-1]
                    assert latest.version == held.version, "older than a full sync merged before"

    def live(self, node: str) -> list[Entry]:
        t = self.tables[node]
        return [e for network in sorted(t.networks()) for e in t.entries(network)]

    def own(self, node: str) -> list[Entry]:
        return [e for e in self.live(node) if e.owner == node]

    def deliver_all(self, rnd: random.Random) -> None:
        for node in NODES:
            rnd.shuffle(self.inbox[node])
            while self.inbox[node]:
                self.record(node, self.tables[node].apply(self.inbox[node].pop()))

    def final_sync(self) -> None:
        for node in NODES:
            for owner in NODES:
                if owner != node:
                    self.tables[node].readmit_owner(owner)
                    self.merge(node, self.tables[owner].snapshot())

    def check_converged(self) -> None:
        for node in NODES:
            for owner in NODES:
                if owner != node:
                    held = {e for e in self.live(node) if e.owner == owner}
                    assert held == set(self.own(owner)), f"{node}'s view of {owner}"
            remote = {e.key: e for e in self.live(node) if e.owner != node}
            assert remote.keys() == self.views[node].keys(), f"{node}'s consumers"
            assert all(self.views[node][key].same_content(e) for key, e in remote.items())


ARGUMENTS = 6 * 8 * 6 * 4
LOSSLESS_OPS = ("put",) * 3 + ("delete", "tidy") + ("deliver",) * 4
LOSSLESS_FATES = (4, 5, 7, 8)
"""Base 3, a digit per receiver: each event reaches each of the two other nodes once or twice."""


def decode_ops(blob: bytes, *, lossless: bool = False) -> list[tuple[str, int]]:
    """Four bytes a step: the operation, then its arguments.

    One draw of bytes per example instead of two per step keeps Hypothesis
    fast, and it still shrinks a failure to fewer, smaller steps.
    """
    ops = []
    for i in range(0, len(blob) - 3, 4):
        args = int.from_bytes(blob[i + 1 : i + 4], "big")
        if lossless:
            fate = LOSSLESS_FATES[args // ARGUMENTS % len(LOSSLESS_FATES)]
            ops.append((LOSSLESS_OPS[blob[i] % len(LOSSLESS_OPS)], args % ARGUMENTS + ARGUMENTS * fate))
        else:
            ops.append((OPS[blob[i] % len(OPS)], args % (ARGUMENTS * 256)))
    return ops


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=4 * 30, max_size=4 * 120), st.integers(0, 2**32))
def test_every_node_converges_on_every_owners_table_after_a_full_sync(blob, seed):
    """Loss, duplication, reordering, false and true failures, restarts, pruning; then a full sync of everyone.

    The events still in flight are delivered after the sync, the latest ones
    a consumer could see: they must change nothing.
    """
    ops = decode_ops(blob)
    note(f"steps: {ops}")
    cluster = Cluster()
    for op in ops:
        cluster.step(*op)
    cluster.final_sync()
    cluster.deliver_all(random.Random(seed))
    cluster.check_converged()


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=4 * 30, max_size=4 * 120), st.integers(0, 2**32))
def test_gossip_alone_converges_when_nothing_is_lost(blob, seed):
    """moby#50193's lesson: without loss, events alone (any order, duplicated) must converge, no full sync needed."""
    ops = decode_ops(blob, lossless=True)
    note(f"steps: {ops}")
    cluster = Cluster()
    for op in ops:
        cluster.step(*op)
    cluster.deliver_all(random.Random(seed))
    cluster.check_converged()


# -- wire format -----------------------------------------------------------------------------------


def biggest_entry(**over) -> Entry:
    fields = dict(
        network="1" * 64, endpoint="2" * 64, owner="x" * 25, version=2**63 - 1,
        ip=ipaddress.IPv4Interface("10.255.255.254/16"),
        ipv6=ipaddress.IPv6Interface("fd12:3456:789a:bcde:f012:3456:789a:bcde/64"),
        mac="02:42:0a:ff:ff:fe", vtep=ipaddress.ip_address("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"),
        name="n" * 63, aliases=tuple(f"{i}" * 20 for i in range(5)), sandbox="3" * 64, deleted=False)
    fields.update(over)
    return Entry(**fields)  # type: ignore[arg-type]


def test_an_entry_with_long_names_and_both_families_fits_an_event():
    big = biggest_entry()
    data = encode_event(big)
    assert len(data) <= MAX_EVENT_BYTES
    assert len(data) < 400, "room to spare for Serf's event name and framing"
    assert decode_event(data) == big


def test_an_entry_too_big_for_an_event_is_refused_clearly():
    huge = biggest_entry(aliases=tuple(f"alias-{i:02d}-" + "x" * 50 for i in range(20)))
    with pytest.raises(errors.EntryTooLarge) as exc:
        encode_event(huge)
    assert isinstance(exc.value, errors.InvalidParameter) and isinstance(exc.value, ValueError)
    assert exc.value.status == 400
    assert "n" * 63 in exc.value.message and f"more than the {MAX_EVENT_BYTES}" in exc.value.message


@pytest.mark.parametrize("example", [
    entry("peer", "e1", 1),
    entry("peer", "e1", 2, deleted=True, ip=None),
    biggest_entry(ip=None, mac="", name="", aliases=(), sandbox=""),
    biggest_entry(network="ABCDEF", endpoint="0a", mac="02:42:AA:BB:CC:DD", vtep=ipaddress.ip_address("10.1.2.3")),
])
def test_events_round_trip(example):
    assert decode_event(encode_event(example)) == example


# A swarm task's endpoint: NAME.SLOT.TASKID as its name, its sandbox's short ID and hostname as aliases.
TASK_ID = "x8kzq0c7vj3m2n4p5r6s7t8u9"
SERVICE_ID = "w3lq9h2k8m7n6b5v4c3x2z1a0"


def task_binding(**over) -> ServiceBinding:
    fields = dict(
        service_id=SERVICE_ID, service_name="frontend-web-service", endpoint_mode="vip",
        vip=ipaddress.IPv4Interface("10.0.1.2/24"), aliases=("web", "frontend"),
        ingress_ports=(IngressPort("tcp", 8080, 80), IngressPort("udp", 5353, 53)))
    fields.update(over)
    return ServiceBinding(**fields)  # type: ignore[arg-type]


def task_entry(**over) -> Entry:
    fields = dict(
        network="1" * 64, endpoint="2" * 64, owner="n" * 25, version=1_733_000_000_000_000,
        ip=ipaddress.IPv4Interface("10.0.1.7/24"), ipv6=None, mac="02:42:0a:00:01:07",
        vtep=ipaddress.ip_address("192.168.10.11"), name=f"frontend-web-service.1.{TASK_ID}",
        aliases=("3" * 12, "3" * 12), sandbox="3" * 64, service=task_binding())
    fields.update(over)
    return Entry(**fields)  # type: ignore[arg-type]


def test_a_typical_task_endpoint_fits_an_event_with_room_to_spare():
    task = task_entry()
    assert task.service is not None and len(task.service.service_name) == 20 and len(task.name) == 20 + 3 + 25
    data = encode_event(task)
    assert decode_event(data) == task
    assert len(data) < MAX_EVENT_BYTES // 2, len(data)
    # Even with the biggest endpoint this format otherwise takes.
    assert len(encode_event(biggest_entry(service=task_binding()))) < MAX_EVENT_BYTES // 2


def test_a_service_binding_is_packed():
    body = msgpack.unpackb(encode_event(task_entry()))
    binding = body["b"]
    assert binding["i"] == SERVICE_ID and binding["n"] == "frontend-web-service" and "m" not in binding
    assert binding["v"] == bytes([10, 0, 1, 2, 24]) and binding["l"] == ["web", "frontend"]
    assert binding["p"] == b"\x00\x1f\x90\x00\x50" + b"\x01\x14\xe9\x00\x35"
    assert "b" not in msgpack.unpackb(encode_event(entry("peer", "e1", 1)))
    dnsrr = msgpack.unpackb(encode_event(task_entry(service=ServiceBinding("a" * 64, "db", "dnsrr"))))["b"]
    assert dnsrr == {"i": bytes.fromhex("a" * 64), "n": "db", "m": "dnsrr"}


@pytest.mark.parametrize("binding", [
    task_binding(),
    task_binding(endpoint_mode="dnsrr", vip=None),
    task_binding(vip=None, aliases=(), ingress_ports=()),
    task_binding(service_id="a" * 64, vip=ipaddress.IPv4Interface("10.255.0.5/16")),
])
def test_service_bindings_round_trip(binding):
    for deleted in (False, True):
        task = task_entry(service=binding, deleted=deleted)
        assert decode_event(encode_event(task)) == task
    snap = Snapshot("n" * 25, 2 * 10**15, (task_entry(service=binding),))
    assert decode_snapshot(encode_snapshot(snap)) == snap


def packed_binding(**over) -> bytes:
    body = msgpack.unpackb(encode_event(task_entry()))
    body["b"].update(over)
    for key, value in over.items():
        if value is None:
            del body["b"][key]
    return msgpack.packb(body)


@pytest.mark.parametrize("data", [
    packed_binding(i=None), packed_binding(i=""), packed_binding(i=5), packed_binding(n=None),
    packed_binding(n=""), packed_binding(n=["web"]), packed_binding(m="round-robin"), packed_binding(m=1),
    packed_binding(m="dnsrr"),                                        # dnsrr with a VIP
    packed_binding(v=b"\x0a\x00\x01\x02"), packed_binding(v=b"\x0a\x00\x01\x02\x21"), packed_binding(v="10.0.1.2/24"),
    packed_binding(v=bytes(16) + b"\x40"),                            # an IPv6 VIP
    packed_binding(l="web"), packed_binding(l=[None]), packed_binding(p=[[0, 80, 80]]),
    packed_binding(p=b"\x00\x1f\x90\x00"), packed_binding(p=b"\x02\x1f\x90\x00\x50"),
    packed_binding(p=b"\x00\x00\x00\x00\x50"),                      # port 0
    msgpack.packb({**msgpack.unpackb(encode_event(task_entry())), "b": [SERVICE_ID, "web"]}),
    msgpack.packb({**msgpack.unpackb(encode_event(task_entry())), "b": "web"}),
])
def test_malformed_service_bindings_raise_a_typed_error(data):
    with pytest.raises(errors.MalformedPayload) as exc:
        decode_event(data)
    assert isinstance(exc.value, ValueError) and exc.value.status == 400


def test_unknown_keys_of_a_service_binding_are_ignored():
    assert decode_event(packed_binding(z=[1, 2], w={"x": 1})) == task_entry()


hex_ids = st.integers(0, 2**256 - 1).map(lambda n: f"{n:064x}")
texts = st.text(min_size=1, max_size=30)
ipv4_ifaces = st.builds(lambda a, p: ipaddress.IPv4Interface((a, p)), st.integers(0, 2**32 - 1), st.integers(0, 32))
ipv6_ifaces = st.builds(lambda a, p: ipaddress.IPv6Interface((a, p)), st.integers(0, 2**128 - 1), st.integers(0, 128))
entries = st.builds(
    Entry, network=st.one_of(hex_ids, texts), endpoint=st.one_of(hex_ids, texts), owner=texts,
    version=st.integers(0, 2**64 - 1), ip=st.none() | ipv4_ifaces, ipv6=st.none() | ipv6_ifaces,
    mac=st.one_of(st.just(""), st.just("02:42:0a:00:00:01"), st.text(max_size=20)),
    vtep=st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)), name=st.text(max_size=63),
    aliases=st.lists(st.text(max_size=20), max_size=5).map(tuple), sandbox=st.one_of(st.just(""), hex_ids, texts),
    deleted=st.booleans(), service=st.none() | st.builds(
        lambda sid, name, dnsrr, vip, aliases, ports: ServiceBinding(
            sid, name, "dnsrr" if dnsrr else "vip", None if dnsrr else vip, aliases, ports),
        st.one_of(hex_ids, texts), texts, st.booleans(), st.none() | ipv4_ifaces,
        st.lists(st.text(max_size=20), max_size=3).map(tuple),
        st.lists(st.builds(IngressPort, st.sampled_from(("tcp", "udp")), st.integers(1, 65535),
                           st.integers(1, 65535)), max_size=3).map(tuple)))


@settings(max_examples=200, deadline=None)
@given(entries)
def test_any_entry_round_trips(example):
    assert decode_event(encode_event(example)) == example


@settings(max_examples=100, deadline=None)
@given(st.lists(entries, max_size=6), st.booleans())
def test_snapshots_round_trip(items, scoped):
    live = tuple(replace(e, owner="peer", version=i, deleted=False) for i, e in enumerate(items))
    scope = frozenset(e.network for e in live) | {"other"} if scoped else None
    snap = Snapshot("peer", len(live) + 5, live, scope)
    assert decode_snapshot(encode_snapshot(snap)) == snap


def test_a_real_tables_snapshot_round_trips():
    t = table("node1")
    put(t, NET, "e1")
    put(t, NET2, "e2")
    snap = t.snapshot([NET])
    assert decode_snapshot(encode_snapshot(snap)) == snap


def packed(**over) -> bytes:
    body = msgpack.unpackb(encode_event(entry("peer", "e1", 1)))
    body.update(over)
    for key, value in over.items():
        if value is None:
            del body[key]
    return msgpack.packb(body)


@pytest.mark.parametrize("data", [
    b"", b"\xc1", b"\x92\x01", msgpack.packb(1) + b"x", msgpack.packb([1, 2]), msgpack.packb({1: 2}),
    packed(n=None), packed(o=None), packed(v=None), packed(t=None),
    packed(v=True), packed(v=-1), packed(v="1"), packed(v=1.5),
    packed(n=7), packed(e=""), packed(n=[1]),
    packed(**{"4": b"\x0a\x00\x00\x02\x21"}), packed(**{"4": b"\x0a\x00"}), packed(**{"6": "fd00::1/64"}),
    packed(t=b"\x01\x02\x03"), packed(m=b"\x02\x42"), packed(m=5),
    packed(l="alias"), packed(l=[1]), packed(a=3), packed(s=4), packed(d=1),
    msgpack.packb({"n": msgpack.ExtType(1, b"x")}),
])
def test_malformed_events_raise_a_typed_error(data):
    with pytest.raises(errors.MalformedPayload) as exc:
        decode_event(data)
    assert isinstance(exc.value, ValueError) and exc.value.status == 400


def snapshot_body(**over) -> bytes:
    body = msgpack.unpackb(encode_snapshot(Snapshot("peer", 10, (entry("peer", "e1", 5),))))
    body.update(over)
    return msgpack.packb(body)


@pytest.mark.parametrize("data", [
    msgpack.packb("snapshot"), snapshot_body(a=None), snapshot_body(e=None), snapshot_body(e=[1]),
    snapshot_body(n="net"), snapshot_body(n=[1]), snapshot_body(a=4),
    snapshot_body(n=["other"]), snapshot_body(e=[{**msgpack.unpackb(encode_event(entry("p", "e", 1))), "d": True}]),
])
def test_malformed_snapshots_raise_a_typed_error(data):
    with pytest.raises(errors.MalformedPayload):
        decode_snapshot(data)


msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from("noev46mtalsdbipx"), inner, max_size=12),
    max_leaves=30)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=200), msgpack_values.map(msgpack.packb)))
def test_any_bytes_decode_to_an_entry_or_a_typed_error(data):
    for decode in (decode_event, decode_snapshot):
        try:
            decode(data)
        except errors.MalformedPayload:
            pass


def test_decoding_something_not_bytes_is_a_typed_error():
    with pytest.raises(errors.MalformedPayload):
        decode_event("text")
