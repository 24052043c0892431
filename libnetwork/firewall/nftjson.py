"""nftables JSON for the project's tables: pure builders, no I/O.

Layout (``inet cnm`` for routed traffic, ``bridge cnm`` for traffic between
ports of one bridge).  The chains are constant; everything that grows with
networks, endpoints or published ports is an element of a set or map:

    inet cnm
      forward      (filter)  user chain first, then: within one bridge accept;
                             internal bridges no way in or out; replies and
                             published ports in; other bridges isolated; the
                             rest into a bridge dropped; bridges out accepted
      user                   the administrator's (Docker's DOCKER-USER); never flushed
      prerouting / output (nat, dstnat)  local destinations -> ports
      ports                  DNAT through the port maps
      postrouting (nat, srcnat)  hairpin and localhost masquerade; outbound masquerade
    bridge cnm
      forward      (filter)  frames from ports of ICC-off networks dropped

Elements are (set name, element JSON) pairs; the same builder serves adding,
removing and comparing with what is live.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .api import NetworkRules, PortRule, Ruleset

TABLE = "cnm"
INET = "inet"
BRIDGE = "bridge"
USER_CHAIN = "user"

# name -> (family, nft type, map data type or None, interval)
SETS: dict[str, tuple[str, Any, Any, bool]] = {
    "bridges": (INET, "ifname", None, False),
    "internal": (INET, "ifname", None, False),
    "same_bridge": (INET, ["ifname", "ifname"], None, False),
    "masq4": (INET, "ipv4_addr", None, True),
    "masq6": (INET, "ipv6_addr", None, True),
    "hairpin4": (INET, ["ifname", "ipv4_addr"], None, True),
    "hairpin6": (INET, ["ifname", "ipv6_addr"], None, True),
    # A published port is one element in an address map and one in a port
    # map with the same key: libnftables 1.0 crashes parsing the JSON of a
    # single map with concatenated (address . port) data.
    "ports4_addr": (INET, ["ipv4_addr", "inet_proto", "inet_service"], "ipv4_addr", False),
    "ports4_port": (INET, ["ipv4_addr", "inet_proto", "inet_service"], "inet_service", False),
    "ports4_any_addr": (INET, ["inet_proto", "inet_service"], "ipv4_addr", False),
    "ports4_any_port": (INET, ["inet_proto", "inet_service"], "inet_service", False),
    "ports6_addr": (INET, ["ipv6_addr", "inet_proto", "inet_service"], "ipv6_addr", False),
    "ports6_port": (INET, ["ipv6_addr", "inet_proto", "inet_service"], "inet_service", False),
    "ports6_any_addr": (INET, ["inet_proto", "inet_service"], "ipv6_addr", False),
    "ports6_any_port": (INET, ["inet_proto", "inet_service"], "inet_service", False),
    "isolated": (BRIDGE, "ifname", None, False),
}

LOOPBACK4 = ipaddress.ip_network("127.0.0.0/8")


@dataclass(frozen=True)
class Element:
    """One element of one of our sets; ``value`` is set for map elements."""

    set: str
    key: Any
    value: Any = None

    @property
    def family(self) -> str:
        return SETS[self.set][0]

    def to_json(self, with_value: bool = True) -> Any:
        if self.value is not None and with_value:
            return [self.key, self.value]
        return self.key

    def identity(self) -> str:
        return json.dumps([self.set, canonical(self.key), canonical(self.value)], sort_keys=True)


# -- expressions -------------------------------------------------------------------

def meta(key: str) -> dict:
    return {"meta": {"key": key}}


def payload(protocol: str, field: str) -> dict:
    return {"payload": {"protocol": protocol, "field": field}}


def match(left: Any, right: Any, op: str = "==") -> dict:
    return {"match": {"op": op, "left": left, "right": right}}


def concat(*parts: Any) -> dict:
    return {"concat": list(parts)}


def prefix(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> dict:
    return {"prefix": {"addr": str(network.network_address), "len": network.prefixlen}}


def ref(set_name: str) -> str:
    return "@" + set_name


ACCEPT = {"accept": None}
DROP = {"drop": None}
RETURN = {"return": None}
MASQUERADE = {"masquerade": None}
CT_DNAT = match({"ct": {"key": "status"}}, "dnat", op="in")
LOCAL_DESTINATION = match({"fib": {"result": "type", "flags": ["daddr"]}}, "local")
L4_KEY = (meta("l4proto"), payload("th", "dport"))


def _dnat(family: str, key: dict, maps: str) -> dict:
    return {"dnat": {"family": family,
                     "addr": {"map": {"key": key, "data": ref(maps + "_addr")}},
                     "port": {"map": {"key": key, "data": ref(maps + "_port")}}}}


def _chains() -> list[tuple[str, str, dict | None, list[list[dict]]]]:
    """(family, name, base chain spec or None, rules)."""
    iif, oif = meta("iifname"), meta("oifname")
    forward = [
        [{"jump": {"target": USER_CHAIN}}],
        [match(concat(iif, oif), ref("same_bridge")), ACCEPT],
        [match(iif, ref("internal")), DROP],
        [match(oif, ref("internal")), DROP],
        [match({"ct": {"key": "state"}}, ["established", "related"], op="in"), match(oif, ref("bridges")), ACCEPT],
        [CT_DNAT, match(oif, ref("bridges")), ACCEPT],
        [match(iif, ref("bridges")), match(oif, ref("bridges")), DROP],
        [match(oif, ref("bridges")), DROP],
        [match(iif, ref("bridges")), ACCEPT],
    ]
    prerouting = [
        # A packet from outside addressed to 127.0.0.0/8 must never be DNATed
        # (route_localnet on the bridges would otherwise let it through).
        [match(payload("ip", "daddr"), prefix(LOOPBACK4)), RETURN],
        [LOCAL_DESTINATION, {"jump": {"target": "ports"}}],
    ]
    output = [
        # IPv6 has no route_localnet: ::1 cannot leave through a bridge.
        [match(payload("ip6", "daddr"), "::1"), RETURN],
        [LOCAL_DESTINATION, {"jump": {"target": "ports"}}],
    ]
    ports = [
        [_dnat("ip", concat(payload("ip", "daddr"), *L4_KEY), "ports4")],
        [match(meta("nfproto"), "ipv4"), _dnat("ip", concat(*L4_KEY), "ports4_any")],
        [_dnat("ip6", concat(payload("ip6", "daddr"), *L4_KEY), "ports6")],
        [match(meta("nfproto"), "ipv6"), _dnat("ip6", concat(*L4_KEY), "ports6_any")],
    ]
    postrouting = [
        # Hairpin: a sandbox reaching a published port of its own bridge must
        # see the reply come back through the host, so the host answers for it.
        [CT_DNAT, match(concat(oif, payload("ip", "saddr")), ref("hairpin4")), MASQUERADE],
        [CT_DNAT, match(concat(oif, payload("ip6", "saddr")), ref("hairpin6")), MASQUERADE],
        # The host reaching a published port on 127.0.0.1 (with route_localnet).
        [match(oif, ref("bridges")), match(payload("ip", "saddr"), prefix(LOOPBACK4)), MASQUERADE],
        [match(oif, ref("bridges"), op="!="), match(payload("ip", "saddr"), ref("masq4")), MASQUERADE],
        [match(oif, ref("bridges"), op="!="), match(payload("ip6", "saddr"), ref("masq6")), MASQUERADE],
    ]
    bridge_forward = [
        [match(iif, ref("isolated")), match(payload("ether", "type"), {"set": ["ip", "ip6"]}), DROP],
    ]

    def base(kind: str, hook: str, prio: int) -> dict:
        return {"type": kind, "hook": hook, "prio": prio, "policy": "accept"}

    return [
        (INET, "forward", base("filter", "forward", 0), forward),
        (INET, "ports", None, ports),
        (INET, "prerouting", base("nat", "prerouting", -100), prerouting),
        (INET, "output", base("nat", "output", -100), output),
        (INET, "postrouting", base("nat", "postrouting", 100), postrouting),
        # Before br_netfilter (priority 0), which takes bridged IP packets
        # through the inet hooks and resumes only the bridge hooks after it.
        (BRIDGE, "forward", base("filter", "forward", -200), bridge_forward),
    ]


# -- batches -----------------------------------------------------------------------

def setup_batch() -> list[dict]:
    """Tables, sets and chains, created or verified; our own chains refilled atomically.

    The user chain is only ever added (a no-op when present), never flushed.
    """
    commands: list[dict] = []
    for family in (INET, BRIDGE):
        commands.append({"add": {"table": {"family": family, "name": TABLE}}})
    for name, (family, key_type, data_type, interval) in SETS.items():
        spec: dict = {"family": family, "table": TABLE, "name": name, "type": key_type}
        if interval:
            spec["flags"] = ["interval"]
        if data_type:
            spec["map"] = data_type
            commands.append({"add": {"map": spec}})
        else:
            commands.append({"add": {"set": spec}})
    commands.append({"add": {"chain": {"family": INET, "table": TABLE, "name": USER_CHAIN}}})
    chains = _chains()
    for family, name, hook, _ in chains:
        chain = {"family": family, "table": TABLE, "name": name, **(hook or {})}
        commands.append({"add": {"chain": chain}})
    for family, name, _, _ in chains:
        commands.append({"flush": {"chain": {"family": family, "table": TABLE, "name": name}}})
    for family, name, _, rules in chains:
        for expr in rules:
            commands.append({"add": {"rule": {"family": family, "table": TABLE, "chain": name, "expr": expr}}})
    return commands


def cleanup_batch(present: Iterable[str]) -> list[dict]:
    """Delete our tables (``present``: the families that have one)."""
    return [{"delete": {"table": {"family": family, "name": TABLE}}} for family in present]


def _grouped(elements: Iterable[Element], verb: str, with_value: bool) -> list[dict]:
    by_set: dict[str, list] = {}
    for element in elements:
        by_set.setdefault(element.set, []).append(element.to_json(with_value))
    return [{verb: {"element": {"family": SETS[name][0], "table": TABLE, "name": name, "elem": elems}}}
            for name, elems in by_set.items()]


def add_batch(elements: Iterable[Element]) -> list[dict]:
    return _grouped(list(elements), "add", True)


def remove_batch(elements: Iterable[Element]) -> list[dict]:
    """Delete exactly these elements, succeeding when they are gone already.

    Deleting a missing element fails the whole transaction, so each is added
    first in the same transaction: the commit then removes it either way.
    """
    elements = list(elements)
    return _grouped(elements, "add", True) + _grouped(elements, "delete", False)


def delete_batch(elements: Iterable[Element]) -> list[dict]:
    """Delete elements known to be live (listed in the same worker turn)."""
    return _grouped(list(elements), "delete", False)


# -- elements of the desired state ------------------------------------------------

def network_elements(rules: NetworkRules) -> list[Element]:
    elements = [Element("bridges", rules.bridge), Element("same_bridge", concat(rules.bridge, rules.bridge))]
    if rules.internal:
        return elements + [Element("internal", rules.bridge)]
    for subnet in rules.subnets:
        v = subnet.version
        elements.append(Element(f"hairpin{v}", concat(rules.bridge, prefix(subnet))))
        if rules.masquerade:
            elements.append(Element(f"masq{v}", prefix(subnet)))
    return elements


def port_elements(rule: PortRule) -> list[Element]:
    v = rule.container_ip.version
    if rule.host_ip.is_unspecified:
        maps, key = f"ports{v}_any", concat(rule.proto, rule.host_port)
    else:
        maps, key = f"ports{v}", concat(str(rule.host_ip), rule.proto, rule.host_port)
    return [Element(maps + "_addr", key, str(rule.container_ip)), Element(maps + "_port", key, rule.container_port)]


def isolated_element(port: str) -> Element:
    return Element("isolated", port)


def desired_elements(desired: Ruleset) -> list[Element]:
    elements = [e for rules in desired.networks for e in network_elements(rules)]
    elements += [isolated_element(p) for p in desired.isolated_ports]
    elements += [e for r in desired.ports for e in port_elements(r)]
    return elements


def live_elements(listing: dict) -> list[Element]:
    """Our sets' elements out of ``list table`` JSON output."""
    found = []
    for item in listing.get("nftables", []):
        spec = item.get("set") or item.get("map")
        if not spec or spec.get("table") != TABLE or spec.get("name") not in SETS:
            continue
        if SETS[spec["name"]][0] != spec.get("family"):
            continue
        for elem in spec.get("elem", []):
            if "map" in item and isinstance(elem, list):
                found.append(Element(spec["name"], _unwrap(elem[0]), _unwrap(elem[1])))
            else:
                found.append(Element(spec["name"], _unwrap(elem)))
    return found


def _unwrap(elem: Any) -> Any:
    # Elements with comments or timeouts come wrapped as {"elem": {"val": ...}}.
    if isinstance(elem, dict) and "elem" in elem:
        return elem["elem"]["val"]
    return elem


def canonical(value: Any) -> Any:
    """One spelling per value, so desired and listed elements compare equal."""
    if isinstance(value, dict) and "concat" in value:
        return [canonical(v) for v in value["concat"]]
    if isinstance(value, dict) and "prefix" in value:
        return str(ipaddress.ip_network(f"{value['prefix']['addr']}/{value['prefix']['len']}", strict=False))
    if isinstance(value, str):
        try:
            return str(ipaddress.ip_network(value))
        except ValueError:
            return value
    return value


def diff(live: Iterable[Element], desired: Iterable[Element]) -> tuple[list[Element], list[Element]]:
    """(stale: live but not desired, missing: desired but not live)."""
    live_by_id = {e.identity(): e for e in live}
    desired_by_id = {e.identity(): e for e in desired}
    stale = [e for k, e in live_by_id.items() if k not in desired_by_id]
    missing = [e for k, e in desired_by_id.items() if k not in live_by_id]
    return stale, missing
