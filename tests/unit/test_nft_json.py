"""The nftables JSON builders: layout, elements, idempotent removal, reconciliation diff."""

from __future__ import annotations

import ipaddress

from libnetwork.firewall import nftjson
from libnetwork.firewall.api import NetworkRules, PortRule, Ruleset

NET = NetworkRules("br-1", (ipaddress.ip_network("172.18.0.0/16"), ipaddress.ip_network("fd00::/64")))
PORT = PortRule("tcp", ipaddress.ip_address("0.0.0.0"), 8080, ipaddress.ip_address("172.18.0.2"), 80)
LOCAL = PortRule("udp", ipaddress.ip_address("127.0.0.1"), 53, ipaddress.ip_address("172.18.0.2"), 53)


def test_setup_never_flushes_the_user_chain_and_owns_only_its_tables():
    batch = nftjson.setup_batch()
    flushed = [c["flush"]["chain"]["name"] for c in batch if "flush" in c]
    assert nftjson.USER_CHAIN not in flushed and "forward" in flushed
    tables = {body.get("table", body.get("name")) for c in batch for kind in c.values() for body in kind.values()}
    assert tables == {nftjson.TABLE}
    assert not any("flush" in c and "ruleset" in c["flush"] for c in batch)
    # the forward chain consults the user chain first
    rules = [c["add"]["rule"] for c in batch if "add" in c and "rule" in c["add"]]
    forward = [r["expr"] for r in rules if r["family"] == "inet" and r["chain"] == "forward"]
    assert forward[0] == [{"jump": {"target": "user"}}]


def test_network_elements():
    sets = {(e.set, str(nftjson.canonical(e.key))) for e in nftjson.network_elements(NET)}
    assert ("bridges", "br-1") in sets and ("masq4", "172.18.0.0/16") in sets and ("masq6", "fd00::/64") in sets
    assert ("hairpin4", str(["br-1", "172.18.0.0/16"])) in sets
    internal = NetworkRules("br-2", NET.subnets, internal=True)
    assert {e.set for e in nftjson.network_elements(internal)} == {"bridges", "same_bridge", "internal"}
    plain = NetworkRules("br-3", NET.subnets, masquerade=False)
    assert not any(e.set.startswith("masq") for e in nftjson.network_elements(plain))


def test_one_published_port_is_one_key_in_the_address_and_port_maps():
    any_addr, any_port = nftjson.port_elements(PORT)
    assert (any_addr.set, any_port.set) == ("ports4_any_addr", "ports4_any_port")
    assert any_addr.key == {"concat": ["tcp", 8080]} and any_addr.value == "172.18.0.2" and any_port.value == 80
    local_addr, _ = nftjson.port_elements(LOCAL)
    assert local_addr.set == "ports4_addr" and local_addr.key == {"concat": ["127.0.0.1", "udp", 53]}


def test_removal_adds_then_deletes_in_one_batch():
    batch = nftjson.remove_batch(nftjson.port_elements(PORT))
    verbs = [next(iter(c)) for c in batch]
    assert verbs == ["add", "add", "delete", "delete"]
    # a map element is deleted by key
    assert batch[2]["delete"]["element"]["elem"] == [{"concat": ["tcp", 8080]}]


def test_reconcile_diff_against_a_listing():
    listing = {"nftables": [
        {"metainfo": {}},
        {"set": {"family": "inet", "table": "cnm", "name": "bridges", "type": "ifname", "elem": ["br-1", "br-old"]}},
        {"set": {"family": "inet", "table": "cnm", "name": "masq4", "type": "ipv4_addr",
                 "elem": [{"prefix": {"addr": "172.18.0.0", "len": 16}}]}},
        {"map": {"family": "inet", "table": "cnm", "name": "ports4_any_addr", "type": ["inet_proto", "inet_service"],
                 "map": "ipv4_addr", "elem": [[{"concat": ["tcp", 8080]}, "172.18.0.2"]]}},
        {"set": {"family": "inet", "table": "other", "name": "bridges", "type": "ifname", "elem": ["x"]}},
    ]}
    live = nftjson.live_elements(listing)
    desired = nftjson.desired_elements(Ruleset(networks=(NET,), ports=(PORT,)))
    stale, missing = nftjson.diff(live, desired)
    assert [(e.set, e.key) for e in stale] == [("bridges", "br-old")]
    assert ("ports4_any_port", 80) in {(e.set, e.value) for e in missing}
    assert "masq4" not in {e.set for e in missing}
