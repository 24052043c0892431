"""A routed underlay for multi-host labs: N "host" namespaces on two L2
segments joined by a router namespace.

    segment A 192.168.10.0/24            segment B 192.168.20.0/24
    (bridge br0 in namespace <p>segA)    (bridge br0 in namespace <p>segB)
      node1 .11  node2 .12                 node3 .13
           \\      |                         |
            +-- br0 --- .1 [<p>router] .1 --- br0
                           ip_forward=1

Two segments and a router, not one bridge, because that is what real clusters
cross: gossip, VXLAN and the cluster port must work through a routed hop, and
a lab on one L2 segment would hide a protocol that only works on-link.

Every interface lives in a namespace this module creates; nothing in the
machine's own namespace is touched. Each node has eth0 on its segment, lo up
and a default route via the router (.1 of its segment). Node i's address is
.{10+i} on its segment. Hosts 1..ceil(N/2) are on segment A, the rest on B
(N=3: node1, node2 on A, node3 on B), unless ``segments`` says otherwise.

``up`` is idempotent: an existing, complete topology is left as is; a partial
one is torn down and rebuilt. ``down`` removes every namespace the prefix
owns (also those of a larger N from an earlier run), so two underlays with
different prefixes never touch each other::

    ul = Underlay(n=3, prefix="ul-").up(verbose=False)
    ul.run("node1", "ping", "-c1", ul.ip("node3"))
    ul.netns_path("node2")   # /run/netns/ul-node2, for nsenter --net=
    ul.down(verbose=False)
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

SEGMENTS = {"A": "192.168.10", "B": "192.168.20"}
PREFIXLEN = 24
MAX_HOSTS = 10
NETNS_DIR = "/run/netns"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, text=True, capture_output=True)


def netns_list() -> list[str]:
    out = _ip("-j", "netns", "list", check=False).stdout.strip()
    if not out:
        return []
    return [entry["name"] for entry in json.loads(out)]


def _quiet(*args: object, **kwargs: object) -> None:
    pass


@dataclass(frozen=True)
class Host:
    name: str      # e.g. "node1"
    netns: str     # e.g. "ul-node1"
    segment: str   # "A" or "B"
    addr: str      # e.g. "192.168.10.11"
    gateway: str   # e.g. "192.168.10.1"

    @property
    def netns_path(self) -> str:
        return os.path.join(NETNS_DIR, self.netns)


class Underlay:
    def __init__(self, n: int = 3, prefix: str = "ul-", segments: str | None = None):
        if not 1 <= n <= MAX_HOSTS:
            raise ValueError(f"n must be 1..{MAX_HOSTS}")
        if segments is None:
            on_a = math.ceil(n / 2)
            segments = "A" * on_a + "B" * (n - on_a)
        segments = segments.upper()
        if len(segments) != n or set(segments) - set(SEGMENTS):
            raise ValueError("segments needs one letter A or B per host")
        self.n, self.prefix, self.segments = n, prefix, segments
        self.router = prefix + "router"
        self.hosts = [
            Host(f"node{i}", f"{prefix}node{i}", seg, f"{SEGMENTS[seg]}.{10 + i}", f"{SEGMENTS[seg]}.1")
            for i, seg in enumerate(segments, start=1)
        ]

    # -- names --------------------------------------------------------------
    def segns(self, seg: str) -> str:
        return f"{self.prefix}seg{seg}"

    def host(self, name: str) -> Host:
        for host in self.hosts:
            if name in (host.name, host.netns):
                return host
        raise KeyError(name)

    def ns(self, name: str) -> str:
        return self.host(name).netns

    def netns_path(self, name: str) -> str:
        return self.host(name).netns_path

    def ip(self, name: str) -> str:
        return self.host(name).addr

    def all_netns(self) -> list[str]:
        return [self.router, *(self.segns(s) for s in SEGMENTS), *(h.netns for h in self.hosts)]

    def owned(self) -> list[str]:
        """Every existing namespace this prefix owns (any N)."""
        names = {self.router, *(self.segns(s) for s in SEGMENTS)}
        node = self.prefix + "node"
        return [ns for ns in netns_list()
                if ns in names or (ns.startswith(node) and ns[len(node):].isdigit())]

    def run(self, host: str, *cmd: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.ns(host), *cmd],
                              check=check, text=True, capture_output=True, timeout=timeout)

    # -- up / down ------------------------------------------------------------
    def is_up(self) -> bool:
        present = set(netns_list())
        if not set(self.all_netns()) <= present:
            return False
        if any(ns not in self.all_netns() for ns in self.owned()):
            return False
        for host in self.hosts:
            r = _ip("-n", host.netns, "-j", "addr", "show", "dev", "eth0", check=False)
            if r.returncode or f'"{host.addr}"' not in r.stdout:
                return False
            r = _ip("-n", host.netns, "route", "show", "default", check=False)
            if host.gateway not in r.stdout:
                return False
        return True

    def up(self, verbose: bool = True) -> Underlay:
        if self.is_up():
            if verbose:
                print("underlay already up")
            return self
        self.down(verbose=False)
        say: Callable[..., None] = print if verbose else _quiet
        try:
            self._build(say)
        except BaseException:
            # A half-built underlay is worth nothing and would make the next up() rebuild anyway.
            self.down(verbose=False)
            raise
        return self

    def _build(self, say: Callable[..., None]) -> None:
        for ns in self.all_netns():
            say(f"+ ip netns add {ns}")
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        _ip("netns", "exec", self.router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        for seg, net in SEGMENTS.items():
            sns = self.segns(seg)
            _ip("-n", sns, "link", "add", "br0", "type", "bridge")
            # no STP, forward at once
            _ip("-n", sns, "link", "set", "br0", "type", "bridge", "forward_delay", "0", "stp_state", "0")
            _ip("-n", sns, "link", "set", "br0", "up")
            # router leg: eth<seg> in the router, port r in the segment
            leg = f"eth{seg.lower()}"
            _ip("-n", sns, "link", "add", "r", "type", "veth", "peer", "name", leg, "netns", self.router)
            _ip("-n", sns, "link", "set", "r", "master", "br0")
            _ip("-n", sns, "link", "set", "r", "up")
            _ip("-n", self.router, "addr", "add", f"{net}.1/{PREFIXLEN}", "dev", leg)
            _ip("-n", self.router, "link", "set", leg, "up")
            say(f"  {self.router}: {leg} {net}.1/{PREFIXLEN} on {sns}/br0")
        for host in self.hosts:
            sns = self.segns(host.segment)
            port = host.name  # bridge port named after the host
            _ip("-n", sns, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
            _ip("-n", sns, "link", "set", port, "master", "br0")
            _ip("-n", sns, "link", "set", port, "up")
            _ip("-n", host.netns, "addr", "add", f"{host.addr}/{PREFIXLEN}", "dev", "eth0")
            _ip("-n", host.netns, "link", "set", "eth0", "up")
            _ip("-n", host.netns, "route", "add", "default", "via", host.gateway)
            say(f"  {host.netns}: eth0 {host.addr}/{PREFIXLEN} on {sns}/br0, default via {host.gateway}")

    def down(self, verbose: bool = True) -> None:
        for ns in self.owned():
            if verbose:
                print(f"- ip netns delete {ns}")
            _ip("netns", "delete", ns, check=False)

    # -- show / check -------------------------------------------------------
    def draw(self) -> str:
        lines = []
        for seg, net in SEGMENTS.items():
            lines.append(f"segment {seg} {net}.0/{PREFIXLEN}  (bridge br0 in netns {self.segns(seg)})")
            for host in self.hosts:
                if host.segment == seg:
                    lines.append(f"   [{host.netns}] eth0 {host.addr} --+")
            lines.append(f"   [{self.router}] eth{seg.lower()} {net}.1 --+--br0")
        lines.append(f"{self.router} routes between the segments (ip_forward=1); "
                     "each node: default via .1 of its segment")
        return "\n".join(lines)

    def diagram(self) -> str:
        """The topology as a staircase: segment A's hosts, the router, segment B's hosts."""
        a_hosts = [h for h in self.hosts if h.segment == "A"]
        b_hosts = [h for h in self.hosts if h.segment == "B"]
        width = max(len(h.name) for h in self.hosts)
        awidth = max(len(h.addr) for h in self.hosts)
        lines = [f"  segment A {SEGMENTS['A']}.0/{PREFIXLEN} (bridge br0 in netns {self.segns('A')})"]
        lines += [f"    {h.name:<{width}}  {h.addr:<{awidth}} ---+" for h in a_hosts]
        joint = 4 + width + 2 + awidth + 4  # the column of segment A's "+"
        router = f"+--- .1 [{self.router}] .1 ---+"
        lines.append(" " * joint + router + "   ip_forward=1, routes A <-> B")
        joint += len(router) - 1
        lines += [" " * joint + f"+--- {h.addr:<{awidth}}  {h.name}" for h in b_hosts]
        lines.append(" " * max(0, joint - 20) + f"segment B {SEGMENTS['B']}.0/{PREFIXLEN} "
                     f"(bridge br0 in netns {self.segns('B')})")
        lines.append("  each node: eth0 on its segment, default route via .1 of its segment")
        return "\n".join(lines)

    def ping(self, src: str, dst: str, timeout: float = 1) -> bool:
        """Whether one ping from host src reaches host dst's address."""
        r = self.run(src, "ping", "-c1", f"-W{max(1, round(timeout))}", self.ip(dst), check=False)
        return r.returncode == 0

    def check(self, verbose: bool = True) -> bool:
        """Ping every ordered pair; True when all answer."""
        ok = True
        for a in self.hosts:
            for b in self.hosts:
                if a is b:
                    continue
                good = self.ping(a.name, b.name)
                ok &= good
                if verbose:
                    print(f"  {a.name} -> {b.name} ({b.addr}): {'ok' if good else 'FAIL'}")
        return ok
