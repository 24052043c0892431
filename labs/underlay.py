#!/usr/bin/env python3
"""A routed underlay for multi-host labs: N "host" namespaces on two L2
segments joined by a router namespace.

    segment A 192.168.10.0/24            segment B 192.168.20.0/24
    (bridge br0 in namespace <p>segA)    (bridge br0 in namespace <p>segB)
      node1 .11  node2 .12                 node3 .13
           \\      |                         |
            +-- br0 --- .1 [<p>router] .1 --- br0
                           ip_forward=1

Every interface lives in a namespace this script creates; nothing in the
machine's own namespace is touched. Each node has eth0 on its segment, lo up
and a default route via the router (.1 of its segment). Node i's address is
.{10+i} on its segment. Hosts 1..ceil(N/2) are on segment A, the rest on B
(N=3: node1, node2 on A, node3 on B), unless --segments says otherwise.

Usage (root):
    labs/underlay.py up   [-n 3] [--prefix ul-] [--segments AAB]
    labs/underlay.py down [--prefix ul-]
    labs/underlay.py show [--prefix ul-]
    labs/underlay.py check [-n 3] [--prefix ul-]   # pings every pair

`up` is idempotent: an existing, complete topology is left as is; a partial
one is torn down and rebuilt. `down` removes every namespace the prefix owns
(also those of a larger N from an earlier run). As a library:

    from underlay import Underlay
    ul = Underlay(n=3, prefix="ul-"); ul.up(); ul.ns("node1"); ul.ip("node3")
    ul.run("node1", "ping", "-c1", ul.ip("node3")); ul.down()
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass

SEGMENTS = {"A": "192.168.10", "B": "192.168.20"}
PREFIXLEN = 24
MAX_HOSTS = 10


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, text=True, capture_output=True)


def _netns_list() -> list[str]:
    out = _ip("-j", "netns", "list", check=False).stdout.strip()
    if not out:
        return []
    return [e["name"] for e in json.loads(out)]


@dataclass(frozen=True)
class Host:
    name: str      # e.g. "node1"
    netns: str     # e.g. "ul-node1"
    segment: str   # "A" or "B"
    addr: str      # e.g. "192.168.10.11"
    gateway: str   # e.g. "192.168.10.1"


class Underlay:
    def __init__(self, n: int = 3, prefix: str = "ul-", segments: str | None = None):
        if not 1 <= n <= MAX_HOSTS:
            raise ValueError(f"n must be 1..{MAX_HOSTS}")
        if segments is None:
            a = math.ceil(n / 2)
            segments = "A" * a + "B" * (n - a)
        segments = segments.upper()
        if len(segments) != n or set(segments) - set(SEGMENTS):
            raise ValueError("--segments needs one letter A or B per host")
        self.n, self.prefix, self.segments = n, prefix, segments
        self.router = prefix + "router"
        self.hosts = [
            Host(f"node{i}", f"{prefix}node{i}", seg,
                 f"{SEGMENTS[seg]}.{10 + i}", f"{SEGMENTS[seg]}.1")
            for i, seg in enumerate(segments, start=1)
        ]

    # -- names --------------------------------------------------------------
    def segns(self, seg: str) -> str:
        return f"{self.prefix}seg{seg}"

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name or h.netns == name:
                return h
        raise KeyError(name)

    def ns(self, name: str) -> str:
        return self.host(name).netns

    def ip(self, name: str) -> str:
        return self.host(name).addr

    def all_netns(self) -> list[str]:
        return [self.router, *(self.segns(s) for s in SEGMENTS), *(h.netns for h in self.hosts)]

    def owned(self) -> list[str]:
        """Every existing namespace this prefix owns (any N)."""
        names = {self.router, *(self.segns(s) for s in SEGMENTS)}
        return [ns for ns in _netns_list()
                if ns in names or (ns.startswith(self.prefix + "node") and ns[len(self.prefix) + 4:].isdigit())]

    def run(self, host: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.ns(host), *cmd],
                              check=check, text=True, capture_output=True)

    # -- up / down ------------------------------------------------------------
    def is_up(self) -> bool:
        present = set(_netns_list())
        if not set(self.all_netns()) <= present:
            return False
        extra = [ns for ns in self.owned() if ns not in self.all_netns()]
        if extra:
            return False
        for h in self.hosts:
            r = _ip("-n", h.netns, "-j", "addr", "show", "dev", "eth0", check=False)
            if r.returncode or f'"{h.addr}"' not in r.stdout:
                return False
            r = _ip("-n", h.netns, "route", "show", "default", check=False)
            if h.gateway not in r.stdout:
                return False
        return True

    def up(self, verbose: bool = True) -> Underlay:
        if self.is_up():
            if verbose:
                print("underlay already up")
            return self
        self.down(verbose=False)
        say = print if verbose else (lambda *a, **k: None)
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
        for h in self.hosts:
            sns = self.segns(h.segment)
            port = h.name  # bridge port named after the host
            _ip("-n", sns, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", h.netns)
            _ip("-n", sns, "link", "set", port, "master", "br0")
            _ip("-n", sns, "link", "set", port, "up")
            _ip("-n", h.netns, "addr", "add", f"{h.addr}/{PREFIXLEN}", "dev", "eth0")
            _ip("-n", h.netns, "link", "set", "eth0", "up")
            _ip("-n", h.netns, "route", "add", "default", "via", h.gateway)
            say(f"  {h.netns}: eth0 {h.addr}/{PREFIXLEN} on {sns}/br0, default via {h.gateway}")
        return self

    def down(self, verbose: bool = True) -> None:
        for ns in self.owned():
            if verbose:
                print(f"- ip netns delete {ns}")
            _ip("netns", "delete", ns, check=False)

    # -- show / check -------------------------------------------------------
    def draw(self) -> str:
        lines = []
        for seg, net in SEGMENTS.items():
            members = [h for h in self.hosts if h.segment == seg]
            lines.append(f"segment {seg} {net}.0/{PREFIXLEN}  (bridge br0 in netns {self.segns(seg)})")
            for h in members:
                lines.append(f"   [{h.netns}] eth0 {h.addr} --+")
            lines.append(f"   [{self.router}] eth{seg.lower()} {net}.1 --+--br0")
        lines.append(f"{self.router} routes between the segments (ip_forward=1); "
                     "each node: default via .1 of its segment")
        return "\n".join(lines)

    def check(self) -> bool:
        ok = True
        for a in self.hosts:
            for b in self.hosts:
                if a is b:
                    continue
                r = self.run(a.name, "ping", "-c1", "-W1", b.addr, check=False)
                good = r.returncode == 0
                ok &= good
                print(f"  {a.name} -> {b.name} ({b.addr}): {'ok' if good else 'FAIL'}")
        return ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("action", choices=["up", "down", "show", "check"])
    p.add_argument("-n", type=int, default=int(os.environ.get("UL_N", "3")), help="hosts (1..10, default 3)")
    p.add_argument("--prefix", default=os.environ.get("UL_PREFIX", "ul-"), help="namespace name prefix")
    p.add_argument("--segments", default=None, help="one letter A|B per host, e.g. AAB")
    a = p.parse_args(argv)
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 1
    ul = Underlay(a.n, a.prefix, a.segments)
    if a.action == "up":
        ul.up()
        print(ul.draw())
    elif a.action == "down":
        ul.down()
    elif a.action == "show":
        print(ul.draw())
        print("present:", " ".join(ul.owned()) or "(none)", "| complete:", ul.is_up())
    elif a.action == "check":
        return 0 if ul.check() else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
