"""A VXLAN between two underlay hosts built by hand with ip(8): the peer the overlay benchmark
measures cnmd's overlay against.

It is laid out as the overlay driver lays out one network on a node, so the
two paths differ only in who built them:

    host namespace (underlay node)        the VXLAN device's UDP socket lives here:
      |                                   it is made from here (local = the node's address,
      |                                   remote = the other node's) and born in ...
    <p>hvb-<node>   br0 + vx0             ... a bridge namespace, as the overlay's br0 + vxlan0
      |  veth
    <p>hvs-<node>   eth0 10.250.0.N/24    a sandbox

    ip -n HOST link add vx0 netns BRIDGE_NS type vxlan id VNI dstport 4789 local A remote B nolearning

Both ends get MTU 1450 (1500 less VXLAN's 50).  ``remote`` gives the device
one default destination, so ARP needs no static entries.  Everything made is
recorded and ``down`` deletes exactly that (the namespaces; their devices go
with them), also after a half-made ``up``.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field

from libnetwork.labkit.underlay import NETNS_DIR, Underlay

SUBNET = "10.250.0"
VNI = 4242
MTU = 1450


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], check=False, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


@dataclass(frozen=True)
class End:
    """One side: the underlay node, its bridge and sandbox namespaces, the sandbox's address."""

    node: str
    bridge_ns: str
    sandbox_ns: str
    ip: str

    @property
    def netns(self) -> str:
        """The sandbox's namespace path, for nsenter --net=."""
        return os.path.join(NETNS_DIR, self.sandbox_ns)


@dataclass
class HandVxlan:
    underlay: Underlay
    nodes: tuple[str, str]
    vni: int = VNI
    dstport: int = 4789
    mtu: int = MTU
    made: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

    @property
    def ends(self) -> tuple[End, End]:
        a, b = (End(node, f"{self.underlay.prefix}hvb-{node}", f"{self.underlay.prefix}hvs-{node}",
                    f"{SUBNET}.{index}") for index, node in enumerate(self.nodes, start=1))
        return a, b

    def up(self) -> HandVxlan:
        try:
            a, b = self.ends
            self._side(a, b)
            self._side(b, a)
        except BaseException:
            self.down()
            raise
        return self

    def _side(self, end: End, other: End) -> None:
        host = self.underlay.ns(end.node)
        local, remote = self.underlay.ip(end.node), self.underlay.ip(other.node)
        for ns in (end.bridge_ns, end.sandbox_ns):
            self._run("netns", "add", ns)
            self.made.append(ns)
            self._run("-n", ns, "link", "set", "lo", "up")
        self._run("-n", host, "link", "add", "vx0", "netns", end.bridge_ns, "type", "vxlan", "id", str(self.vni),
                  "dstport", str(self.dstport), "local", local, "remote", remote, "nolearning")
        self._run("-n", end.bridge_ns, "link", "add", "br0", "mtu", str(self.mtu), "type", "bridge")
        self._run("-n", end.bridge_ns, "link", "set", "br0", "up")
        self._run("-n", end.bridge_ns, "link", "set", "vx0", "mtu", str(self.mtu), "master", "br0", "up")
        self._run("-n", end.bridge_ns, "link", "add", "p0", "mtu", str(self.mtu), "type", "veth", "peer", "name",
                  "eth0", "mtu", str(self.mtu), "netns", end.sandbox_ns)
        self._run("-n", end.bridge_ns, "link", "set", "p0", "master", "br0", "up")
        self._run("-n", end.sandbox_ns, "addr", "add", f"{end.ip}/24", "dev", "eth0")
        self._run("-n", end.sandbox_ns, "link", "set", "eth0", "up")

    def _run(self, *args: str) -> None:
        self.commands.append("ip " + " ".join(args))
        _ip(*args)

    def down(self) -> None:
        while self.made:
            subprocess.run(["ip", "netns", "delete", self.made.pop()], check=False, capture_output=True)
