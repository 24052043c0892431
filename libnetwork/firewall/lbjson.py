"""nftables commands for the service load balancer: pure builders, no I/O.

Its own table, ``inet cnm-lb``: apart from the firewall's ``inet cnm`` so
that it can live in namespaces without a firewall (a sandbox's), and so that
the firewall refilling its chains at start never touches it.  Layout, after
kube-proxy's nftables mode (one verdict map dispatching on VIP, protocol and
port to a chain per service), with the backends in maps rather than in the
service chain's rule, so that one backend is one element:

    inet cnm-lb
      prerouting (nat, dstnat - 10)  iifname @interfaces -> services
      output     (nat, dstnat - 10)  -> services              (this namespace's own sockets)
      services   ip daddr . meta l4proto . th dport vmap @services4 (and ip6 / @services6)
                 ip daddr . meta l4proto vmap @allports4               (and ip6 / @allports6)
      svc-<proto>-<port>-<vip>-<service id>   one rule:
                 dnat ip to ip daddr . tcp dport . numgen random mod N map @backends4_tcp
                 (no backend: reject, as kube-proxy does)
      svc-<proto>-all-<vip>-<service id>      (every port) one rule:
                 dnat ip to ip daddr . meta l4proto . numgen random mod N map @backends4_allports
      postrouting (nat, srcnat)  ct status dnat iifname . oifname @hairpin masquerade
      maps       backends{4,6}_{tcp,udp}: VIP . port . index -> backend address . port
                 backends{4,6}_allports:  VIP . protocol . index -> backend address

An every-port service (``ServiceVip.port == 0``) is dispatched by a second
verdict map, looked up only when the exact one missed, so a service on one
port of the same VIP takes that port.  Its backends are addresses alone: the
DNAT changes the address and keeps the port the client chose.

dstnat - 10: ahead of the firewall's published ports (dstnat), so that a VIP
that is also a local address is the service's even on a published port.

Adding or removing a backend changes at most three map elements and rewrites
the service chain's one rule (its N); the rule holds no backend, so its size
does not grow with them.  kube-proxy instead rewrites that rule with an
anonymous vmap of all N backends (``labs/bench_service_lb.py`` measures both).

libnftables 1.0 JSON cannot declare a map keyed by a plain integer (it has no
``typeof``, and numgen's integer does not match a ``mark`` key), nor a map
with concatenated data: the backend maps are declared once in text
(``setup_text``), and everything else is JSON.  The data expression fixes the
transport protocol (``tcp dport``), hence one map per protocol and family;
the every-port maps key on ``meta l4proto`` instead and need one per family.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import lbplan
from .api import IPAddress
from .lbapi import EVERY_PORT, Backend, LbRuleset, ServiceVip, check_backends
from .nftjson import concat, match, meta, payload, ref

TABLE = "cnm-lb"
FAMILY = "inet"
CHAIN_PREFIX = "svc-"
INTERFACES = "interfaces"
HAIRPIN = "hairpin"
BASE_CHAINS = ("prerouting", "output", "services", "postrouting")
DSTNAT_PRIORITY = -110
SRCNAT_PRIORITY = 100

ALLPORTS = "allports"   # the every-port services' backend maps, both protocols in one
_IP = {4: "ip", 6: "ip6"}


def dispatch_map(version: int, every_port: bool = False) -> str:
    return f"allports{version}" if every_port else f"services{version}"


def backend_map(version: int, protocol: str) -> str:
    """``protocol``: tcp, udp, or ALLPORTS for the every-port services of both."""
    return f"backends{version}_{protocol}"


def _dispatch_of(vip: ServiceVip) -> str:
    return dispatch_map(vip.vip.version, vip.every_port)


def _backends_of(vip: ServiceVip) -> str:
    return backend_map(vip.vip.version, ALLPORTS if vip.every_port else vip.protocol)


def chain_name(vip: ServiceVip) -> str:
    """Unique per (VIP, protocol, port), readable in ``nft list``, and carries the service ID back."""
    token = str(vip.vip).replace(":", "_")
    owner = re.sub(r"[^A-Za-z0-9_.-]", "_", vip.service_id)[:64]
    port = "all" if vip.every_port else vip.port
    return f"{CHAIN_PREFIX}{vip.protocol}-{port}-{token}-{owner}"


def service_id_of(chain: str) -> str | None:
    if not chain.startswith(CHAIN_PREFIX):
        return None
    parts = chain[len(CHAIN_PREFIX):].split("-", 3)
    return parts[3] if len(parts) == 4 else None


def _obj(**spec: Any) -> dict:
    return {"family": FAMILY, "table": TABLE, **spec}


# -- setup ---------------------------------------------------------------------------

def setup_text() -> str:
    """The table and the backend maps, which only the text syntax can declare (``typeof``)."""
    lines = [f"add table {FAMILY} {TABLE}"]
    for version, ip in _IP.items():
        for protocol in ("tcp", "udp"):
            lines.append(
                f"add map {FAMILY} {TABLE} {backend_map(version, protocol)} "
                f"{{ typeof {ip} daddr . {protocol} dport . numgen random mod 1 : {ip} daddr . {protocol} dport ; }}")
        lines.append(
            f"add map {FAMILY} {TABLE} {backend_map(version, ALLPORTS)} "
            f"{{ typeof {ip} daddr . meta l4proto . numgen random mod 1 : {ip} daddr ; }}")
    return "\n".join(lines) + "\n"


def setup_batch() -> list[dict]:
    """Dispatch maps, interface sets and the constant chains, created or verified and refilled atomically."""
    commands: list[dict] = [{"add": {"table": {"family": FAMILY, "name": TABLE}}}]
    for version, addr in ((4, "ipv4_addr"), (6, "ipv6_addr")):
        commands.append({"add": {"map": _obj(name=dispatch_map(version),
                                             type=[addr, "inet_proto", "inet_service"], map="verdict")}})
        commands.append({"add": {"map": _obj(name=dispatch_map(version, every_port=True),
                                             type=[addr, "inet_proto"], map="verdict")}})
    commands.append({"add": {"set": _obj(name=INTERFACES, type="ifname")}})
    commands.append({"add": {"set": _obj(name=HAIRPIN, type=["ifname", "ifname"])}})
    chains = _base_chains()
    for name, hook, _ in chains:
        commands.append({"add": {"chain": _obj(name=name, **(hook or {}))}})
    for name, _, _ in chains:
        commands.append({"flush": {"chain": _obj(name=name)}})
    for name, _, rules in chains:
        for expr in rules:
            commands.append({"add": {"rule": _obj(chain=name, expr=expr)}})
    return commands


def _base_chains() -> list[tuple[str, dict | None, list[list[dict]]]]:
    def base(hook: str, prio: int) -> dict:
        return {"type": "nat", "hook": hook, "prio": prio, "policy": "accept"}

    to_services = {"jump": {"target": "services"}}
    l4 = (meta("l4proto"), payload("th", "dport"))
    return [
        # Exact ports first: a vmap hit is a goto, so an exact service's port never reaches every-port.
        ("services", None, [
            [{"vmap": {"key": concat(payload(ip, "daddr"), *l4), "data": ref(dispatch_map(v))}}]
            for v, ip in _IP.items()
        ] + [
            [{"vmap": {"key": concat(payload(ip, "daddr"), meta("l4proto")),
                       "data": ref(dispatch_map(v, every_port=True))}}]
            for v, ip in _IP.items()
        ]),
        ("prerouting", base("prerouting", DSTNAT_PRIORITY), [[match(meta("iifname"), ref(INTERFACES)), to_services]]),
        ("output", base("output", DSTNAT_PRIORITY), [[to_services]]),
        # A client on the backend's own bridge would get the backend's answer
        # straight, not through here, so not from the VIP: the node answers for it.
        ("postrouting", base("postrouting", SRCNAT_PRIORITY), [[
            match({"ct": {"key": "status"}}, "dnat", op="in"),
            match(concat(meta("iifname"), meta("oifname")), ref(HAIRPIN)),
            {"masquerade": None},
        ]]),
    ]


def cleanup_batch() -> list[dict]:
    return [{"delete": {"table": {"family": FAMILY, "name": TABLE}}}]


# -- elements --------------------------------------------------------------------------

def masquerade_commands(verb: str, in_ifname: str, out_ifname: str) -> list[dict]:
    """Balanced traffic entering through one interface and leaving through another is masqueraded."""
    return [{verb: {"element": _obj(name=HAIRPIN, elem=[concat(in_ifname, out_ifname)])}}]


def interface_commands(verb: str, ifname: str) -> list[dict]:
    return [{verb: {"element": _obj(name=INTERFACES, elem=[ifname])}},
            {verb: {"element": _obj(name=HAIRPIN, elem=[concat(ifname, ifname)])}}]


def _dispatch_key(vip: ServiceVip) -> dict:
    if vip.every_port:
        return concat(str(vip.vip), vip.protocol)
    return concat(str(vip.vip), vip.protocol, vip.port)


def _slot_key(vip: ServiceVip, index: int) -> dict:
    # The every-port maps serve both protocols: the protocol takes the port's place in the key.
    return concat(str(vip.vip), vip.protocol if vip.every_port else vip.port, index)


def _backend_value(backend: Backend) -> dict | str:
    if backend.port == EVERY_PORT:
        return str(backend.address)
    return concat(str(backend.address), backend.port)


def _elements(verb: str, set_name: str, elems: list) -> list[dict]:
    return [{verb: {"element": _obj(name=set_name, elem=elems)}}] if elems else []


def service_rule(vip: ServiceVip, count: int) -> list[dict]:
    """The service chain's one rule: pick one of ``count`` indices at random, DNAT to what it maps to."""
    if count == 0:
        return [{"reject": None}]
    ip = _IP[vip.vip.version]
    numgen = {"numgen": {"mode": "random", "mod": count, "offset": 0}}
    if vip.every_port:
        key = concat(payload(ip, "daddr"), meta("l4proto"), numgen)
    else:
        key = concat(payload(ip, "daddr"), payload(vip.protocol, "dport"), numgen)
    return [match(meta("l4proto"), vip.protocol),
            {"dnat": {"family": ip, "addr": {"map": {"key": key, "data": ref(_backends_of(vip))}}}}]


def service_commands(vip: ServiceVip, delta: lbplan.Delta, new_service: bool = False,
                     rewrite_rule: bool = False) -> list[dict]:
    """One service's change (``delta``; ``new_service``: its chain and dispatch element too)."""
    chain = chain_name(vip)
    commands: list[dict] = []
    if new_service:
        commands.append({"add": {"chain": _obj(name=chain)}})
    name = _backends_of(vip)
    commands += _elements("delete", name, [_slot_key(vip, i) for i in delta.deleted])
    commands += _elements("add", name, [[_slot_key(vip, i), _backend_value(b)] for i, b in delta.added])
    if new_service or rewrite_rule or delta.before != delta.after:
        commands.append({"flush": {"chain": _obj(name=chain)}})
        commands.append({"add": {"rule": _obj(chain=chain, expr=service_rule(vip, delta.after))}})
    if new_service:
        # Last: the chain is complete before any packet can be dispatched to it.
        commands += _elements("add", _dispatch_of(vip), [[_dispatch_key(vip), {"goto": {"target": chain}}]])
    return commands


def slot_deletions(vip: ServiceVip, slots: Iterable[int]) -> list[dict]:
    return _elements("delete", _backends_of(vip), [_slot_key(vip, i) for i in slots])


def chain_deletion(chain: str) -> list[dict]:
    return [{"flush": {"chain": _obj(name=chain)}}, {"delete": {"chain": _obj(name=chain)}}]


def removal_commands(vip: ServiceVip, slots: Iterable[int], chain: str | None = None) -> list[dict]:
    """Remove a live service: dispatch element first (it references the chain), then the rest."""
    return (_elements("delete", _dispatch_of(vip), [_dispatch_key(vip)])
            + slot_deletions(vip, slots) + chain_deletion(chain or chain_name(vip)))


# -- the live table --------------------------------------------------------------------

@dataclass
class LiveService:
    vip: ServiceVip
    chain: str
    slots: dict[int, Backend] = field(default_factory=dict)

    def dense(self) -> list[Backend] | None:
        """The backends in index order, or None when the indices have holes (someone else's edit)."""
        if sorted(self.slots) != list(range(len(self.slots))):
            return None
        return [self.slots[i] for i in range(len(self.slots))]


@dataclass
class LiveTable:
    services: dict[tuple[IPAddress, str, int], LiveService] = field(default_factory=dict)
    interfaces: set[str] = field(default_factory=set)
    chains: set[str] = field(default_factory=set)          # every svc-* chain, dispatched to or not
    strays: list[dict] = field(default_factory=list)       # delete commands for orphan backend elements


def _unwrap(elem: Any) -> Any:
    if isinstance(elem, dict) and "elem" in elem:
        return elem["elem"]["val"]
    return elem


def _parts(value: Any) -> list:
    return list(value["concat"]) if isinstance(value, dict) and "concat" in value else [value]


def parse_live(listing: dict) -> LiveTable:
    """Our services, interfaces and chains out of ``list table inet cnm-lb`` JSON output."""
    live = LiveTable()
    # backend map name -> (IP version, its elements as (key parts, data parts))
    slots: dict[str, tuple[int, list[tuple[list, list]]]] = {}
    backend_maps = {backend_map(v, p): v for v in _IP for p in ("tcp", "udp", ALLPORTS)}
    for item in listing.get("nftables", []):
        if "chain" in item and item["chain"].get("table") == TABLE:
            if item["chain"]["name"].startswith(CHAIN_PREFIX):
                live.chains.add(item["chain"]["name"])
            continue
        spec = item.get("map") or item.get("set")
        if not spec or spec.get("table") != TABLE or spec.get("family") != FAMILY:
            continue
        name, elems = spec.get("name"), spec.get("elem", [])
        if name == INTERFACES:
            live.interfaces = {_unwrap(e) for e in elems}
        for version in _IP:
            for every_port in (False, True):
                if name == dispatch_map(version, every_port):
                    for key, verdict in elems:
                        vip_s, protocol, *port = _parts(_unwrap(key))
                        chain = verdict.get("goto", verdict.get("jump", {})).get("target", "")
                        owner = service_id_of(chain) or "unknown"
                        vip = ServiceVip(owner, ipaddress.ip_address(vip_s), protocol,
                                         int(port[0]) if port else EVERY_PORT)
                        live.services[vip.key] = LiveService(vip, chain)
        if name in backend_maps:
            slots[name] = (backend_maps[name], [(_parts(_unwrap(k)), _parts(v)) for k, v in elems])
    for name, (version, entries) in slots.items():
        every_port = name == backend_map(version, ALLPORTS)
        for (vip_s, middle, index), (address, *backend_port) in entries:
            if every_port:
                key = (ipaddress.ip_address(vip_s), middle, EVERY_PORT)
            else:
                key = (ipaddress.ip_address(vip_s), name.rsplit("_", 1)[1], int(middle))
            service = live.services.get(key)
            if service is None:
                live.strays += _elements("delete", name, [concat(vip_s, middle, index)])
            else:
                target = int(backend_port[0]) if backend_port else EVERY_PORT
                service.slots[int(index)] = Backend(ipaddress.ip_address(address), target)
    return live


def reconcile_commands(live: LiveTable, desired: LbRuleset) -> tuple[list[dict], int]:
    """One transaction from ``live`` to ``desired``, and how many services and interfaces it changes.

    Surviving backends keep their indices (no needless churn); every desired
    service's rule is rewritten (its N may have been edited); services,
    chains and elements that nothing desires go.
    """
    commands: list[dict] = list(live.strays)
    changed = 0
    wanted = {s.vip.key: s for s in desired.services}
    for key, service in live.services.items():
        if key not in wanted or wanted[key].vip != service.vip:
            commands += removal_commands(service.vip, service.slots, service.chain)
            changed += 1
    for key, want in wanted.items():
        found = live.services.get(key)
        new_backends = check_backends(want.vip, want.backends)
        if found is not None and found.vip == want.vip:
            old = found.dense()
            if old is None:  # holes in the indices: this service's elements afresh
                commands += slot_deletions(found.vip, found.slots)
                old = []
            delta = lbplan.Slots(old).plan_assign(new_backends)
            changed += bool(delta.deleted or delta.added)
            commands += service_commands(want.vip, delta, rewrite_rule=True)
        else:
            # A chain left without its dispatch element is reused: adding a chain is idempotent.
            commands += service_commands(want.vip, lbplan.Slots().plan_assign(new_backends), new_service=True)
            changed += 1
    kept = {chain_name(s.vip) for s in desired.services}
    removed = {s.chain for s in live.services.values()} - kept
    for chain in sorted(live.chains - kept - removed):
        commands += chain_deletion(chain)
    for ifname in sorted(live.interfaces - set(desired.interfaces)):
        commands += interface_commands("delete", ifname)
        changed += 1
    for ifname in sorted(set(desired.interfaces) - live.interfaces):
        commands += interface_commands("add", ifname)
        changed += 1
    return commands, changed
