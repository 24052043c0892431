"""The load balancer's pure parts: index layout, command building, parsing the live table, the contract."""

from __future__ import annotations

import ipaddress
import random

import pytest

from libnetwork.errors import InvalidParameter
from libnetwork.firewall import create_load_balancer, lbjson, lbplan
from libnetwork.firewall.lbapi import (
    EVERY_PORT,
    Backend,
    LbRuleset,
    LbService,
    LoadBalancer,
    ServiceVip,
    check_backends,
)
from libnetwork.firewall.lbnull import NullLoadBalancer

VIP = ServiceVip("svc1", ipaddress.ip_address("10.0.9.2"), "tcp", 80)
VIP6 = ServiceVip("svc1", ipaddress.ip_address("fd00::9:2"), "udp", 53)


def backends(n: int, start: int = 0) -> list[Backend]:
    return [Backend(ipaddress.ip_address(f"10.1.{i // 250}.{i % 250 + 1}"), 8080) for i in range(start, start + n)]


def elements(commands: list[dict], verb: str, name: str) -> list:
    return [e for c in commands if verb in c and "element" in c[verb] and c[verb]["element"]["name"] == name
            for e in c[verb]["element"]["elem"]]


def test_layout_is_dense_and_moves_at_most_one_backend_per_removal():
    rng = random.Random(7)
    for _ in range(2000):
        pool = backends(30)
        old = rng.sample(pool, rng.randint(0, 12))
        new = rng.sample(pool, rng.randint(0, 12))
        placed = lbplan.layout(old, new)
        assert sorted(map(str, placed)) == sorted(map(str, new))
        moved = [i for i, b in enumerate(placed) if i < len(old) and old[i] != b and b in old]
        assert len(moved) <= len(set(old) - set(new))


def test_one_change_costs_the_same_whatever_the_number_of_backends():
    sizes = []
    for n in (10, 1000, 10000):
        old = backends(n)
        slots = lbplan.Slots(old)
        add = lbjson.service_commands(VIP, slots.plan_add(backends(1, n)[0]))
        remove = lbjson.service_commands(VIP, slots.plan_remove(old[3]))
        assert slots.plan_remove(old[3]) == slots.plan_assign(old[:3] + old[4:])
        sizes.append((len(str(add)), len(str(remove))))
        assert elements(remove, "delete", "backends4_tcp") == [
            {"concat": ["10.0.9.2", 80, 3]}, {"concat": ["10.0.9.2", 80, n - 1]}]
        assert elements(remove, "add", "backends4_tcp") == [
            [{"concat": ["10.0.9.2", 80, 3]}, {"concat": [str(old[-1].address), 8080]}]]
    # the only thing growing is the digits of N and of the indices
    assert max(s[0] for s in sizes) - min(s[0] for s in sizes) < 20
    assert max(s[1] for s in sizes) - min(s[1] for s in sizes) < 20


def test_new_service_dispatches_last_and_rule_holds_no_backend():
    commands = lbjson.service_commands(VIP, lbplan.Slots().plan_assign(backends(3)), new_service=True)
    assert commands[0] == {"add": {"chain": {"family": "inet", "table": "cnm-lb", "name": lbjson.chain_name(VIP)}}}
    assert "services4" in str(commands[-1]) and "goto" in str(commands[-1])
    rule = next(c["add"]["rule"] for c in commands if "add" in c and "rule" in c["add"])
    dnat = rule["expr"][-1]["dnat"]
    assert dnat["family"] == "ip"
    assert dnat["addr"]["map"]["key"]["concat"][-1] == {"numgen": {"mode": "random", "mod": 3, "offset": 0}}
    assert "10.1." not in str(rule)
    assert lbjson.service_rule(VIP, 0) == [{"reject": None}]
    assert lbjson.service_rule(VIP6, 2)[-1]["dnat"]["family"] == "ip6"


def test_slots_apply_what_was_planned():
    rng = random.Random(3)
    pool = backends(20)
    slots, model = lbplan.Slots(), []
    for _ in range(3000):
        backend = rng.choice(pool)
        if rng.random() < 0.5:
            delta = slots.plan_add(backend)
            model = lbplan.layout(model, model + [backend] if backend not in model else model)
        else:
            delta = slots.plan_remove(backend)
            model = lbplan.layout(model, [b for b in model if b != backend])
        assert len(delta.deleted) <= 2 and len(delta.added) <= 1
        slots.apply(delta)
        assert slots.order == model
        assert all(b in slots for b in model) and len(slots) == len(model)


def test_unchanged_count_keeps_the_rule():
    old = backends(4)
    swapped = old[:3] + backends(1, 10)
    commands = lbjson.service_commands(VIP, lbplan.Slots(old).plan_assign(swapped))
    assert not any("rule" in c.get("add", {}) for c in commands)


def test_removal_deletes_dispatch_before_chain():
    commands = lbjson.removal_commands(VIP, range(2))
    kinds = [next(iter(c.values())) for c in commands]
    assert "services4" in str(kinds[0])
    assert commands[-1] == {"delete": {"chain": {"family": "inet", "table": "cnm-lb", "name": lbjson.chain_name(VIP)}}}


def test_setup_owns_only_its_table_and_declares_typed_maps_in_text():
    batch = lbjson.setup_batch()
    tables = {body.get("table", body.get("name")) for c in batch for kind in c.values() for body in kind.values()}
    assert tables == {"cnm-lb"}
    flushed = {c["flush"]["chain"]["name"] for c in batch if "flush" in c}
    assert flushed == set(lbjson.BASE_CHAINS)
    text = lbjson.setup_text()
    assert text.count("typeof") == 6 and "flush" not in text and "delete" not in text
    assert "backends6_allports { typeof ip6 daddr . meta l4proto . numgen random mod 1 : ip6 daddr ; }" in text


def test_chain_names_carry_the_service_id():
    odd = ServiceVip("a b/c-d", ipaddress.ip_address("fd00::1"), "udp", 5353)
    name = lbjson.chain_name(odd)
    assert ":" not in name and " " not in name
    assert lbjson.service_id_of(name) == "a_b_c-d"
    assert lbjson.service_id_of("prerouting") is None


def test_parse_live_round_trip_and_strays():
    listing = {"nftables": [
        {"map": {"family": "inet", "table": "cnm-lb", "name": "services4",
                 "elem": [[{"concat": ["10.0.9.2", "tcp", 80]}, {"goto": {"target": lbjson.chain_name(VIP)}}]]}},
        {"map": {"family": "inet", "table": "cnm-lb", "name": "backends4_tcp",
                 "elem": [[{"concat": ["10.0.9.2", 80, 1]}, {"concat": ["10.1.0.2", 8080]}],
                          [{"concat": ["10.0.9.2", 80, 0]}, {"concat": ["10.1.0.1", 8080]}],
                          [{"concat": ["10.0.9.9", 80, 0]}, {"concat": ["10.1.0.9", 8080]}]]}},
        {"set": {"family": "inet", "table": "cnm-lb", "name": "interfaces", "elem": ["br0"]}},
        {"chain": {"family": "inet", "table": "cnm-lb", "name": lbjson.chain_name(VIP)}},
        {"chain": {"family": "inet", "table": "cnm-lb", "name": "services"}},
        {"map": {"family": "inet", "table": "cnm", "name": "services4", "elem": []}},
    ]}
    live = lbjson.parse_live(listing)
    service = live.services[VIP.key]
    assert service.vip == VIP and service.dense() == backends(2)
    assert live.interfaces == {"br0"} and live.chains == {lbjson.chain_name(VIP)}
    assert elements(live.strays, "delete", "backends4_tcp") == [{"concat": ["10.0.9.9", 80, 0]}]
    service.slots.pop(0)
    assert service.dense() is None


def test_contract_checks():
    with pytest.raises(InvalidParameter):
        ServiceVip("s", ipaddress.ip_address("10.0.0.1"), "sctp", 80)
    with pytest.raises(InvalidParameter):
        ServiceVip("s", ipaddress.ip_address("10.0.0.1"), "tcp", 65536)
    with pytest.raises(InvalidParameter):
        Backend(ipaddress.ip_address("10.0.0.1"), 70000)
    with pytest.raises(InvalidParameter):
        Backend(ipaddress.ip_address("10.0.0.1"), -1)
    with pytest.raises(InvalidParameter):
        check_backends(VIP, [Backend(ipaddress.ip_address("fd00::1"), 80)])
    assert check_backends(VIP, backends(2) + backends(1)) == tuple(backends(2))


def test_null_backend_is_a_load_balancer():
    null = create_load_balancer(False)
    assert isinstance(null, NullLoadBalancer) and isinstance(null, LoadBalancer)
    null.setup()
    null.ensure_service(VIP, backends(2))
    null.remove_service(VIP)
    with pytest.raises(InvalidParameter):
        null.add_backend(VIP, Backend(ipaddress.ip_address("fd00::1"), 80))


def test_reconcile_keeps_indices_and_removes_what_nobody_wants():
    other = ServiceVip("svc2", ipaddress.ip_address("10.0.9.3"), "udp", 53)
    live = lbjson.LiveTable(interfaces={"br0", "br-old"}, chains={lbjson.chain_name(VIP), "svc-orphan"})
    live.services[VIP.key] = lbjson.LiveService(VIP, lbjson.chain_name(VIP), dict(enumerate(backends(3))))
    live.services[other.key] = lbjson.LiveService(other, lbjson.chain_name(other), {0: backends(1)[0]})
    desired = LbRuleset(services=(LbService(VIP, tuple(backends(2) + backends(1, 5))),), interfaces=("br0", "br1"))
    commands, changed = lbjson.reconcile_commands(live, desired)
    assert changed == 4  # VIP changed, other gone, br-old gone, br1 new
    assert elements(commands, "delete", "backends4_tcp") == [{"concat": ["10.0.9.2", 80, 2]}]
    assert elements(commands, "add", "backends4_tcp") == [
        [{"concat": ["10.0.9.2", 80, 2]}, {"concat": [str(backends(1, 5)[0].address), 8080]}]]
    deleted_chains = [c["delete"]["chain"]["name"] for c in commands if "chain" in c.get("delete", {})]
    assert deleted_chains == [lbjson.chain_name(other), "svc-orphan"]
    assert lbjson.reconcile_commands(lbjson.parse_live({}), LbRuleset()) == ([], 0)


# -- every-port services ------------------------------------------------------------------

ALL = ServiceVip("svc1", ipaddress.ip_address("10.0.9.2"), "tcp", EVERY_PORT)
ALL6 = ServiceVip("svc6", ipaddress.ip_address("fd00::9:2"), "udp", EVERY_PORT)


def anyport(n: int, start: int = 0) -> list[Backend]:
    return [Backend(b.address, EVERY_PORT) for b in backends(n, start)]


def test_every_port_backends_have_no_port_and_exact_ones_have_one():
    assert ALL.every_port and not VIP.every_port and ALL.key != VIP.key
    assert check_backends(ALL, anyport(2)) == tuple(anyport(2))
    with pytest.raises(InvalidParameter):
        check_backends(ALL, backends(1))
    with pytest.raises(InvalidParameter):
        check_backends(VIP, anyport(1))
    with pytest.raises(InvalidParameter):
        NullLoadBalancer().ensure_service(VIP, anyport(1))
    with pytest.raises(InvalidParameter):
        lbjson.reconcile_commands(lbjson.LiveTable(), LbRuleset(services=(LbService(ALL, tuple(backends(1))),)))


def test_every_port_service_keys_on_protocol_and_keeps_the_port():
    commands = lbjson.service_commands(ALL, lbplan.Slots().plan_assign(anyport(3)), new_service=True)
    assert elements(commands, "add", "backends4_allports") == [
        [{"concat": ["10.0.9.2", "tcp", i]}, str(b.address)] for i, b in enumerate(anyport(3))]
    assert elements(commands, "add", "allports4") == [
        [{"concat": ["10.0.9.2", "tcp"]}, {"goto": {"target": lbjson.chain_name(ALL)}}]]
    assert not elements(commands, "add", "services4") and not elements(commands, "add", "backends4_tcp")
    assert "-all-" in lbjson.chain_name(ALL) and lbjson.service_id_of(lbjson.chain_name(ALL)) == "svc1"
    dnat = lbjson.service_rule(ALL, 3)[-1]["dnat"]
    assert dnat["addr"]["map"]["key"]["concat"][1] == {"meta": {"key": "l4proto"}}   # no port in the key
    assert dnat["addr"]["map"]["data"] == "@backends4_allports" and "port" not in dnat
    assert lbjson.service_rule(ALL6, 1)[-1]["dnat"]["addr"]["map"]["data"] == "@backends6_allports"
    removal = lbjson.removal_commands(ALL6, range(2))
    assert elements(removal, "delete", "allports6") == [{"concat": ["fd00::9:2", "udp"]}]
    assert elements(removal, "delete", "backends6_allports") == [
        {"concat": ["fd00::9:2", "udp", 0]}, {"concat": ["fd00::9:2", "udp", 1]}]


def test_every_port_change_costs_the_same_whatever_the_number_of_backends():
    sizes = []
    for n in (10, 10000):
        old = anyport(n)
        slots = lbplan.Slots(old)
        remove = lbjson.service_commands(ALL, slots.plan_remove(old[3]))
        add = lbjson.service_commands(ALL, slots.plan_add(anyport(1, n)[0]))
        assert len(elements(remove, "delete", "backends4_allports")) == 2
        sizes.append((len(str(add)), len(str(remove))))
    assert abs(sizes[0][0] - sizes[1][0]) < 20 and abs(sizes[0][1] - sizes[1][1]) < 20


def test_exact_ports_are_dispatched_before_every_port():
    services = next(rules for name, _, rules in lbjson._base_chains() if name == "services")
    maps = [rule[0]["vmap"]["data"] for rule in services]
    assert maps == ["@services4", "@services6", "@allports4", "@allports6"]
    declared = [c["add"]["map"] for c in lbjson.setup_batch() if "map" in c.get("add", {})]
    assert {"name": "allports6", "type": ["ipv6_addr", "inet_proto"], "map": "verdict"}.items() <= \
        next(m for m in declared if m["name"] == "allports6").items()


def test_parse_live_every_port_beside_exact():
    listing = {"nftables": [
        {"map": {"family": "inet", "table": "cnm-lb", "name": "services4",
                 "elem": [[{"concat": ["10.0.9.2", "tcp", 80]}, {"goto": {"target": lbjson.chain_name(VIP)}}]]}},
        {"map": {"family": "inet", "table": "cnm-lb", "name": "allports4",
                 "elem": [[{"concat": ["10.0.9.2", "tcp"]}, {"goto": {"target": lbjson.chain_name(ALL)}}]]}},
        {"map": {"family": "inet", "table": "cnm-lb", "name": "allports6",
                 "elem": [[{"concat": ["fd00::9:2", "udp"]}, {"goto": {"target": lbjson.chain_name(ALL6)}}]]}},
        {"map": {"family": "inet", "table": "cnm-lb", "name": "backends4_tcp",
                 "elem": [[{"concat": ["10.0.9.2", 80, 0]}, {"concat": ["10.1.0.1", 8080]}]]}},
        {"map": {"family": "inet", "table": "cnm-lb", "name": "backends4_allports",
                 "elem": [[{"concat": ["10.0.9.2", "tcp", 1]}, "10.1.0.2"],
                          [{"concat": ["10.0.9.2", "tcp", 0]}, "10.1.0.1"],
                          [{"concat": ["10.0.9.2", "udp", 0]}, "10.1.0.7"]]}},
        {"map": {"family": "inet", "table": "cnm-lb", "name": "backends6_allports",
                 "elem": [[{"concat": ["fd00::9:2", "udp", 0]}, "fd00::1:1"]]}},
    ]}
    live = lbjson.parse_live(listing)
    assert live.services[VIP.key].dense() == backends(1)
    assert live.services[ALL.key].vip == ALL and live.services[ALL.key].dense() == anyport(2)
    assert live.services[ALL6.key].dense() == [Backend(ipaddress.ip_address("fd00::1:1"), EVERY_PORT)]
    assert elements(live.strays, "delete", "backends4_allports") == [{"concat": ["10.0.9.2", "udp", 0]}]
    # what was parsed reconciles to itself: nothing changes
    desired = LbRuleset(services=tuple(LbService(s.vip, tuple(s.dense() or ())) for s in live.services.values()))
    live.strays.clear()
    assert lbjson.reconcile_commands(live, desired)[1] == 0
