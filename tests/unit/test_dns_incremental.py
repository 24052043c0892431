"""The resolver's answers, updated one sandbox at a time, equal answers built from scratch."""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Set

from dnslib import DNSRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from libnetwork.dns.answer import respond
from libnetwork.dns.api import TTL, EndpointNames, Link, Membership, NetworkNames, SandboxDNS, SandboxNames
from libnetwork.dns.zone import A_IN, AAAA_IN, PTR_IN, Zones, encode_name, reverse_name

NETWORKS = (("nid-one", "one"), ("nid-two", "two"), ("nid-three", "three"))
SANDBOXES = tuple(f"s{i}" for i in range(6))
# Shared aliases (round robin), case variants, and an alias that reads like name.network.
ALIASES = ("shared", "Web", "web", "x", "x.one", "api")
LINKS = (Link("s1", "l1"), Link("shared", "l2", network="two"), Link("nosuch", "l3"))


def first_orders(answers) -> dict[bytes, bytes]:
    """Each key's records in their first order (the others are shuffles of it); NODATA has none."""
    return {key: answer.variants[0] for key, answer in answers.items()}


def wire_of(name: str) -> bytes:
    """A name the test knows to be valid, in wire format."""
    encoded = encode_name(name)
    assert encoded is not None, name
    return encoded


def record(qtype: bytes, rdata: bytes) -> bytes:
    return b"\xc0\x0c" + qtype + struct.pack("!IH", TTL, len(rdata)) + rdata


def reference_tiers(network: NetworkNames) -> tuple[dict, dict, dict, dict]:
    """One network's plain, name.network, PTR and NODATA records, built from scratch."""
    addresses: dict[bytes, tuple[list, list]] = {}
    ptr: dict[bytes, bytes] = {}
    for endpoint in network.endpoints:
        for wire in dict.fromkeys(w.lower() for n in endpoint.names if (w := encode_name(n))):
            four, six = addresses.setdefault(wire, ([], []))
            four += [endpoint.ipv4] if endpoint.ipv4 and endpoint.ipv4 not in four else []
            six += [endpoint.ipv6] if endpoint.ipv6 and endpoint.ipv6 not in six else []
        target = wire_of(f"{endpoint.names[0]}.{network.name}")
        for address in (endpoint.ipv4, endpoint.ipv6):
            if address is not None:
                ptr.setdefault(reverse_name(address) + PTR_IN, record(PTR_IN, target))
    plain, qualified, owned = {}, {}, set()
    for wire, (four, six) in addresses.items():
        long = wire[:-1] + wire_of(network.name).lower()
        owned |= {wire, long}
        for qtype, found in ((A_IN, four), (AAAA_IN, six)):
            if found:
                plain[wire + qtype] = qualified[long + qtype] = b"".join(record(qtype, a.packed) for a in found)
    return plain, qualified, ptr, {name + qtype: b"" for name in owned for qtype in (A_IN, AAAA_IN)}


def reference(spec: SandboxDNS) -> dict[bytes, bytes]:
    """Docker's lookup order: plain names of every network, then name.network, PTR, NODATA; links over all."""
    tables = [reference_tiers(network) for network in spec.networks]
    merged: dict[bytes, bytes] = {}
    for tier in range(4):
        for table in tables:
            for key, value in table[tier].items():
                merged.setdefault(key, value)
    links: dict[bytes, bytes] = {}
    for link in spec.links:
        alias, target = wire_of(link.alias).lower(), wire_of(link.target).lower()
        for network, (plain, qualified, _, nodata) in zip(spec.networks, tables, strict=True):
            if (link.network is None or link.network == network.name) and target + A_IN in nodata:
                for qtype in (A_IN, AAAA_IN):
                    links.setdefault(alias + qtype, plain.get(target + qtype) or qualified.get(target + qtype, b""))
                break
    return {**merged, **links}


def endpoint(sid: str, network: int, aliases: tuple[str, ...], families: int) -> EndpointNames:
    index = SANDBOXES.index(sid) + 2
    return EndpointNames(
        (sid, *aliases),
        ipaddress.IPv4Address(f"10.{network}.0.{index}") if families & 1 else None,
        ipaddress.IPv6Address(f"fd00:{network}::{index}") if families & 2 else None)


memberships = st.lists(
    st.tuples(st.integers(0, len(NETWORKS) - 1), st.lists(st.sampled_from(ALIASES), max_size=2).map(tuple),
              st.integers(0, 3)),
    max_size=3, unique_by=lambda m: m[0])
updates = st.tuples(st.just("update"), st.sampled_from(SANDBOXES), memberships,
                    st.lists(st.sampled_from(LINKS), max_size=2, unique=True).map(tuple))
forgets = st.tuples(st.just("forget"), st.sampled_from(SANDBOXES))


class Model:
    """What the controller holds: each network's endpoints in join order, each sandbox's networks and links."""

    def __init__(self) -> None:
        self.joined: dict[str, dict[str, EndpointNames]] = {nid: {} for nid, _ in NETWORKS}
        self.sandboxes: dict[str, SandboxNames] = {}

    def update(self, spec: SandboxNames) -> None:
        self.forget(spec.sid, keep={m.nid for m in spec.memberships})
        for membership in spec.memberships:
            self.joined[membership.nid][spec.sid] = membership.endpoint
        self.sandboxes[spec.sid] = spec

    def forget(self, sid: str, keep: Set[str] = frozenset()) -> None:
        self.sandboxes.pop(sid, None)
        for nid, endpoints in self.joined.items():
            if nid not in keep:
                endpoints.pop(sid, None)

    def whole(self) -> list[SandboxDNS]:
        names = dict(NETWORKS)
        networks = {nid: NetworkNames(nid, names[nid], tuple(endpoints.values()))
                    for nid, endpoints in self.joined.items()}
        return [SandboxDNS(spec.sid, tuple(networks[m.nid] for m in spec.memberships), spec.links)
                for spec in self.sandboxes.values()]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(updates, forgets), max_size=25))
def test_changes_one_sandbox_at_a_time_equal_answers_built_from_scratch(operations):
    zones, again, model = Zones(), Zones(), Model()
    for operation in operations:
        if operation[0] == "forget":
            views = zones.forget(operation[1])
            model.forget(operation[1])
        else:
            _, sid, chosen, links = operation
            spec = SandboxNames(sid, tuple(
                Membership(NETWORKS[n][0], NETWORKS[n][1], endpoint(sid, n, aliases, families))
                for n, aliases, families in chosen), links)
            views = zones.update(spec)
            model.update(spec)
        whole = model.whole()
        reused = again.build(whole)
        assert set(views) == set(reused) == set(model.sandboxes)
        for spec in whole:
            assert first_orders(views[spec.sid].answers) == reference(spec), spec.sid
            assert first_orders(reused[spec.sid].answers) == reference(spec), spec.sid
    for sid in SANDBOXES:
        zones.forget(sid)
    assert not zones.views and not zones._zones and not zones._groups


def ask(view, name: str) -> list[str]:
    response = respond(view.answers, bytes(DNSRecord.question(name).pack()))
    return [str(rr.rdata) for rr in DNSRecord.parse(response).rr] if isinstance(response, bytes) else []


def joins(sid: str, alias: str = "svc", links: tuple[Link, ...] = ()) -> SandboxNames:
    return SandboxNames(sid, (Membership("nid-one", "one", endpoint(sid, 1, (alias,), 1)),), links)


def test_a_change_swaps_the_answers_of_every_view_on_the_network_in_place():
    zones = Zones()
    zones.update(joins("s0"))
    views = zones.update(joins("s1"))
    first, snapshot = views["s0"], views["s0"].current
    assert first is views["s1"]     # one group: no object per sandbox
    snapshot.responses[b"query"] = b"response"
    after = zones.update(joins("s2"))
    assert after["s0"] is first and sorted(ask(first, "svc")) == ["10.1.0.2", "10.1.0.3", "10.1.0.4"]
    # The old snapshot is never changed (the UDP thread may still be reading it), and the new one
    # starts with an empty response cache.
    assert sorted(ask(snapshot, "svc")) == ["10.1.0.2", "10.1.0.3"]
    assert first.current.responses == {}
    zones.forget("s1")
    assert sorted(ask(first, "svc")) == ["10.1.0.2", "10.1.0.4"] and ask(first, "s1") == []


def test_a_link_follows_its_target_coming_and_going():
    zones = Zones()
    zones.update(joins("s0", links=(Link("s3", "db"),)))
    views = zones.update(joins("s1", links=(Link("s3", "db"),)))
    assert views["s0"] is views["s1"]     # replicas with the same links share their answers
    assert ask(views["s0"], "db") == []
    zones.update(joins("s3"))
    assert ask(views["s0"], "db") == ["10.1.0.5"]
    zones.forget("s3")
    assert ask(views["s0"], "db") == []


def test_an_alias_that_reads_name_dot_network_and_that_name_are_owned_apart():
    zones = Zones()
    zones.update(joins("s0", alias="x"))
    views = zones.update(joins("s1", alias="x.one"))
    zones.forget("s1")
    # x.one is still x's qualified name: without IPv6 it is NODATA, not a question for upstream
    expected = reference(SandboxDNS("s0", (NetworkNames("nid-one", "one", (endpoint("s0", 1, ("x",), 1),)),)))
    assert first_orders(views["s0"].answers) == expected
