"""The overlay driver's data plane between two hosts behind a router (the labkit underlay).

Each host runs the driver in its own namespace, as the daemon would
(overlay_node.py, driven over stdin/stdout), and plays the sandbox layer
with the daemon's code.  The checks read the kernel with iproute2 and ping
between sandboxes, so they hold whatever the driver believes.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from libnetwork.labkit.reaper import end_processes, pids_in_netns
from libnetwork.labkit.underlay import Host, Underlay
from libnetwork.testing import require_root

pytestmark = pytest.mark.netns

SCRIPT = os.path.join(os.path.dirname(__file__), "overlay_node.py")
SUBNET, GATEWAY = "10.0.9.0/24", "10.0.9.1"


class NodeProcess:
    """overlay_node.py in one host's namespace: one JSON request, one JSON answer."""

    def __init__(self, host: Host, root: str):
        self.host = host
        self.process = subprocess.Popen(["nsenter", f"--net={host.netns_path}", sys.executable, SCRIPT, root],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self._next("ready")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(json.loads(line))

    def _next(self, what: str, timeout: float = 20) -> dict[str, Any]:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            stderr = self.process.stderr.read() if self.process.poll() is not None and self.process.stderr else ""
            raise AssertionError(f"{self.host.name}: no answer to {what} within {timeout}s; {stderr}") from None

    def call(self, op: str, **fields: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.process.stdin.flush()
        return self._next(op)

    def ok(self, op: str, **fields: Any) -> Any:
        answer = self.call(op, **fields)
        assert "ok" in answer, f"{self.host.name} {op}: {answer}"
        return answer["ok"]

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.call("quit")
                self.process.wait(10)
            except (AssertionError, OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()


@dataclass
class Cluster:
    underlay: Underlay
    nodes: list[NodeProcess]


@dataclass
class Endpoint:
    node: NodeProcess
    eid: str
    ip: str             # with its prefix
    mac: str
    sandbox: str
    sandbox_netns: str
    overlay_netns: str

    @property
    def address(self) -> str:
        return self.ip.split("/")[0]

    def peer_fields(self) -> dict[str, str]:
        return {"eid": self.eid, "ip": self.ip, "mac": self.mac, "vtep": self.node.host.addr}


@dataclass
class Network:
    nid: str
    endpoints: list[Endpoint]


def unmount_under(root: str) -> None:
    """Namespace bind mounts (and the shared directory mounts under them) a crashed node may leave."""
    with open("/proc/self/mountinfo") as handle:
        points = [line.split()[4] for line in handle]
    for point in sorted((p for p in points if p == root or p.startswith(root + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, stderr=subprocess.DEVNULL)


def nsrun(netns: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nsenter", f"--net={netns}", *argv], check=check, text=True, capture_output=True,
                          timeout=20)


def ip_json(netns: str, *argv: str) -> list[dict[str, Any]]:
    return json.loads(nsrun(netns, "ip", "-j", *argv).stdout or "[]")


def fdb(netns: str) -> list[dict[str, Any]]:
    return [e for e in json.loads(nsrun(netns, "bridge", "-j", "fdb", "show", "dev", "vxlan0").stdout or "[]")
            if "dst" in e]


def neighbours(netns: str) -> list[dict[str, Any]]:
    return ip_json(netns, "neigh", "show", "dev", "vxlan0")


def vxlan_tx_packets(netns: str) -> int:
    [link] = ip_json(netns, "-s", "link", "show", "vxlan0")
    return int(link["stats64"]["tx"]["packets"])


def pings(netns: str, address: str, tries: int = 3) -> bool:
    for _ in range(tries):
        if nsrun(netns, "ping", "-c1", "-W1", "-q", address, check=False).returncode == 0:
            return True
    return False


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    require_root()
    underlay = Underlay(2, f"ov{uuid.uuid4().hex[:5]}-", segments="AB")
    root = tempfile.mkdtemp(prefix="ovl-dp-")
    nodes: list[NodeProcess] = []
    try:
        underlay.up(verbose=False)
        probe = underlay.run("node1", "ip", "link", "add", "vxprobe", "type", "vxlan", "id", "1", "dstport", "4789",
                             check=False)
        if probe.returncode != 0:
            pytest.skip(f"the kernel has no VXLAN: {probe.stderr.strip()}")
        underlay.run("node1", "ip", "link", "del", "vxprobe")
        for host in underlay.hosts:
            node = NodeProcess(host, os.path.join(root, host.name))
            nodes.append(node)
            node.ok("discover", address=host.addr)
        yield Cluster(underlay, nodes)
    finally:
        for node in nodes:
            node.stop()
        for host in underlay.hosts:
            end_processes(pids_in_netns(host.netns_path))
        unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)
        underlay.down(verbose=False)


_sandboxes = itertools.count(1)


def join(node: NodeProcess, nid: str, address: str) -> Endpoint:
    eid = uuid.uuid4().hex + uuid.uuid4().hex
    ip = f"{address}/24"
    mac = node.ok("create_endpoint", nid=nid, eid=eid, ip=ip)["mac"]
    sandbox = f"sb{next(_sandboxes)}"
    joined = node.ok("join", nid=nid, eid=eid, sandbox=sandbox, ip=ip, mac=mac)
    assert joined["gateway_v4"] is None
    return Endpoint(node, eid, ip, mac, sandbox, joined["sandbox_netns"], joined["overlay_netns"])


def make_network(cluster: Cluster, vni: int, addresses: tuple[str, str]) -> Network:
    """One network on both nodes, an endpoint on each, each told of the other."""
    nid = uuid.uuid4().hex + uuid.uuid4().hex
    for node in cluster.nodes:
        node.ok("create_network", nid=nid, vni=vni, subnet=SUBNET, gateway=GATEWAY)
    endpoints = [join(node, nid, address) for node, address in zip(cluster.nodes, addresses, strict=True)]
    for here, there in ((endpoints[0], endpoints[1]), (endpoints[1], endpoints[0])):
        here.node.ok("add_peer", nid=nid, **there.peer_fields())
    return Network(nid, endpoints)


def remove_network(cluster: Cluster, network: Network) -> None:
    for endpoint in network.endpoints:
        endpoint.node.call("leave", nid=network.nid, eid=endpoint.eid, sandbox=endpoint.sandbox)
    for node in cluster.nodes:
        node.call("delete_network", nid=network.nid)


@pytest.fixture
def network(cluster: Cluster) -> Iterator[Network]:
    net = make_network(cluster, 4097, ("10.0.9.2", "10.0.9.3"))
    try:
        yield net
    finally:
        remove_network(cluster, net)


def test_sandboxes_reach_each_other_across_the_router_through_static_entries(network: Network) -> None:
    one, two = network.endpoints
    assert pings(one.sandbox_netns, two.address)
    assert pings(two.sandbox_netns, one.address)

    [vxlan] = ip_json(one.overlay_netns, "-d", "link", "show", "vxlan0")
    data = vxlan["linkinfo"]["info_data"]
    assert (data["id"], data["port"], data["local"]) == (4097, 4789, "192.168.10.11")
    assert data["learning"] is False and data["proxy"] is True
    assert "group" not in data
    assert vxlan["mtu"] == 1450 and vxlan["master"] == "br0"
    [bridge] = ip_json(one.overlay_netns, "addr", "show", "br0")
    assert [(a["local"], a["prefixlen"]) for a in bridge["addr_info"] if a["family"] == "inet"] == [("10.0.9.1", 24)]

    [eth0] = ip_json(one.sandbox_netns, "addr", "show", "eth0")
    assert eth0["mtu"] == 1450 and eth0["address"] == "02:42:0a:00:09:02"
    assert ip_json(one.sandbox_netns, "route", "show", "default") == []

    [entry] = fdb(one.overlay_netns)
    assert (entry["mac"], entry["dst"]) == (two.mac, "192.168.20.12")
    assert "self" in entry["flags"] and entry["state"] == "permanent"
    [neighbour] = neighbours(one.overlay_netns)
    assert (neighbour["dst"], neighbour["lladdr"], neighbour["state"]) == ("10.0.9.3", two.mac, ["PERMANENT"])
    # Nothing learnt from the underlay on the other side either.
    assert [(e["mac"], e["dst"]) for e in fdb(two.overlay_netns)] == [(one.mac, "192.168.10.11")]

    # An address no peer has: its ARP requests are answered by no one and
    # never encapsulated (the VXLAN device's transmit count stays).
    sent = vxlan_tx_packets(one.overlay_netns)
    assert not pings(one.sandbox_netns, "10.0.9.77", tries=1)
    assert vxlan_tx_packets(one.overlay_netns) == sent


def test_removed_peers_are_unreachable_until_a_reconcile_restores_them(network: Network) -> None:
    one, two = network.endpoints
    assert pings(one.sandbox_netns, two.address)
    for _ in range(2):   # idempotent
        one.node.ok("remove_peer", nid=network.nid, **two.peer_fields())
    assert fdb(one.overlay_netns) == [] and neighbours(one.overlay_netns) == []
    assert not pings(one.sandbox_netns, two.address, tries=1)

    # A stale peer the driver was told of, and an entry it never made.
    ghost = {"eid": "ghost", "ip": "10.0.9.99/24", "mac": "02:42:0a:00:09:63", "vtep": "192.168.20.99"}
    one.node.ok("add_peer", nid=network.nid, **ghost)
    nsrun(one.overlay_netns, "bridge", "fdb", "add", "02:42:0a:00:09:64", "dev", "vxlan0", "dst", "192.168.20.98",
          "self", "permanent")
    one.node.ok("reconcile", nid=network.nid, peers=[two.peer_fields()])
    assert [(e["mac"], e["dst"]) for e in fdb(one.overlay_netns)] == [(two.mac, "192.168.20.12")]
    assert [(n["dst"], n["lladdr"]) for n in neighbours(one.overlay_netns)] == [("10.0.9.3", two.mac)]
    assert pings(one.sandbox_netns, two.address)
    # Already matching: nothing changes.
    one.node.ok("reconcile", nid=network.nid, peers=[two.peer_fields()])
    assert len(fdb(one.overlay_netns)) == 1 and len(neighbours(one.overlay_netns)) == 1


def test_replay_after_a_restart_is_idempotent(network: Network) -> None:
    one, two = network.endpoints
    node = one.node
    links_before = {link["ifname"] for link in ip_json(one.overlay_netns, "link", "show")}
    for restart in (False, True):
        if restart:
            node.ok("restart")   # memory gone, kernel objects kept
            node.ok("discover", address=node.host.addr)
        node.ok("create_network", nid=network.nid, vni=4097, subnet=SUBNET, gateway=GATEWAY)
        assert node.ok("create_endpoint", nid=network.nid, eid=one.eid, ip=one.ip, mac=one.mac)["mac"] == one.mac
        node.ok("join", nid=network.nid, eid=one.eid, sandbox=one.sandbox, ip=one.ip, mac=one.mac)
        node.ok("add_peer", nid=network.nid, **two.peer_fields())
        assert {link["ifname"] for link in ip_json(one.overlay_netns, "link", "show")} == links_before
        assert sorted(link["ifname"] for link in ip_json(one.sandbox_netns, "link", "show")) == ["eth0", "lo"]
        assert len(fdb(one.overlay_netns)) == 1 and len(neighbours(one.overlay_netns)) == 1
        assert pings(one.sandbox_netns, two.address)


def test_networks_with_other_vnis_are_isolated(cluster: Cluster, network: Network) -> None:
    one, two = network.endpoints
    other = make_network(cluster, 4098, ("10.0.9.4", "10.0.9.5"))
    try:
        b1, b2 = other.endpoints
        assert pings(b1.sandbox_netns, b2.address)
        assert pings(one.sandbox_netns, two.address)
        # Node1 told (wrongly) that network A's endpoint on node2 is in network B: the
        # frames leave with B's VNI, and node2 hands them to B's bridge, where it is not.
        b1.node.ok("add_peer", nid=other.nid, **two.peer_fields())
        assert not pings(b1.sandbox_netns, two.address, tries=1)
        assert not pings(one.sandbox_netns, b2.address, tries=1)
    finally:
        remove_network(cluster, other)
    assert pings(one.sandbox_netns, two.address)


def test_the_namespace_lives_while_endpoints_are_joined_here(cluster: Cluster) -> None:
    node1, node2 = cluster.nodes
    nid = uuid.uuid4().hex + uuid.uuid4().hex
    for node in cluster.nodes:
        node.ok("create_network", nid=nid, vni=4099, subnet=SUBNET, gateway=GATEWAY)
    far = join(node2, nid, "10.0.9.3")
    try:
        # Told before node1 has an endpoint there: remembered, programmed with the namespace.
        node1.ok("add_peer", nid=nid, **far.peer_fields())
        first, second = join(node1, nid, "10.0.9.2"), join(node1, nid, "10.0.9.4")
        for near in (first, second):
            node2.ok("add_peer", nid=nid, **near.peer_fields())
            assert pings(near.sandbox_netns, far.address)
        node1.ok("leave", nid=nid, eid=first.eid, sandbox=first.sandbox)
        assert os.path.exists(second.overlay_netns)
        assert pings(second.sandbox_netns, far.address)
        node1.ok("leave", nid=nid, eid=second.eid, sandbox=second.sandbox)
        assert not os.path.exists(second.overlay_netns)
        # Gone with its VXLAN device: the VNI is free for the next join at once.
        again = join(node1, nid, "10.0.9.2")
        assert pings(again.sandbox_netns, far.address)
        node1.ok("leave", nid=nid, eid=again.eid, sandbox=again.sandbox)
        node1.ok("delete_network", nid=nid)
        node1.ok("delete_network", nid=nid)
    finally:
        node2.call("leave", nid=nid, eid=far.eid, sandbox=far.sandbox)
        for node in cluster.nodes:
            node.call("delete_network", nid=nid)
    assert not os.path.exists(far.overlay_netns)


def test_an_address_that_moves_here_answers_before_its_old_owner_is_gone(cluster: Cluster) -> None:
    """A task placed again takes an address (and its IP-derived MAC) freed on another node, maybe before
    this node hears that the old endpoint left: br0 must not keep sending its MAC down the tunnel."""
    node1, node2 = cluster.nodes
    network = make_network(cluster, 4100, ("10.0.9.2", "10.0.9.3"))
    client, far = network.endpoints
    try:
        assert pings(client.sandbox_netns, far.address)   # br0 learns far's MAC behind vxlan0
        node2.ok("leave", nid=network.nid, eid=far.eid, sandbox=far.sandbox)
        moved = join(node1, network.nid, far.address)
        network.endpoints.append(moved)
        assert moved.mac == far.mac
        assert pings(client.sandbox_netns, moved.address, tries=1)
        node1.ok("remove_peer", nid=network.nid, **far.peer_fields())   # the late news of the leave
        assert pings(client.sandbox_netns, moved.address, tries=1)
    finally:
        network.endpoints.remove(far)
        remove_network(cluster, network)


def test_encrypted_networks_are_refused_without_esp(cluster: Cluster) -> None:
    node = cluster.nodes[0]
    nid = uuid.uuid4().hex + uuid.uuid4().hex
    answer = node.call("create_network", nid=nid, vni=4100, subnet=SUBNET, gateway=GATEWAY,
                       options={"encrypted": ""})
    assert "error" in answer, answer
    if "lacks" not in answer["error"]:
        pytest.skip(f"this kernel has IPsec ESP with AES-GCM: {answer['error']}")
    assert answer["status"] == 501
    assert answer["error"].startswith("encrypted overlay networks need IPsec ESP with AES-GCM")
    assert "Requested AEAD algorithm not found" in answer["error"] or "not" in answer["error"]
    node.ok("delete_network", nid=nid)
