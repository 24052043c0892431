"""Overlay networks on three hosts behind a router: node1 (manager) and node2 on segment A, node3 on B.

Driven as a user would: the docker CLI for networks and the swarm, ``cnm
sandbox create`` for the sandboxes, real packets between them.  The tests
share the hosts and run in file order; each leaves what the next needs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from libnetwork.testing import ClusterHosts, Daemon, cluster_hosts, run_in

from .traffic import pings, request, server

pytestmark = pytest.mark.netns

DNS_CLIENT = os.path.join(os.path.dirname(__file__), "dns_client.py")
CONVERGE = 25.0  # Serf's failure detection (5-8 s here) plus a full sync


@pytest.fixture(scope="module")
def hosts():
    if subprocess.run(["which", "serf", "etcd"], capture_output=True).returncode != 0:
        pytest.skip("needs Debian's serf and etcd-server")
    with cluster_hosts(3) as cluster:
        node1, node2, node3 = cluster.daemons
        node1.docker("swarm", "init", "--advertise-addr", cluster.ip("node1"))
        token = node1.docker("swarm", "join-token", "-q", "worker").stdout.strip()
        for node in (node2, node3):
            node.docker("swarm", "join", "--token", token, f"{cluster.ip('node1')}:2377")
        yield cluster


def sandbox(daemon: Daemon, name: str, network: str) -> str:
    daemon.cnm("sandbox", "create", "--name", name, "--network", network)
    return daemon.sandbox_netns(name)


def address(daemon: Daemon, name: str, network: str) -> str:
    return daemon.inspect("sandbox", name)["Networks"][network]["IPAddress"]


def resolve(netns: str, name: str) -> list[str]:
    answer = run_in(netns, sys.executable, DNS_CLIENT, "query", name, "A").stdout
    return list(json.loads(answer)["answers"])


def eventually(check, timeout: float = CONVERGE, interval: float = 0.3) -> float:
    """Seconds until ``check()`` is true; fails at the timeout."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout}s: {check.__doc__ or check}")
        time.sleep(interval)
    return time.monotonic() - start


def overlay_ns(daemon: Daemon, network_id: str) -> str:
    return os.path.join(daemon.exec_root, "overlay", network_id[:12])


def test_create_on_a_manager_only(hosts: ClusterHosts) -> None:
    node1, node2, _ = hosts.daemons
    nid = node1.docker("network", "create", "-d", "overlay", "--attachable", "ov1").stdout.strip()
    network = json.loads(node1.docker("network", "inspect", "ov1").stdout)[0]
    assert network["Id"] == nid and (network["Scope"], network["Driver"]) == ("swarm", "overlay")
    # the ingress network swarm init made took the pool's first /24 and the first VNI
    assert network["IPAM"]["Config"] == [{"Subnet": "10.0.1.0/24", "Gateway": "10.0.1.1"}]
    assert network["Options"]["com.docker.network.driver.overlay.vxlanid_list"] == "4097"
    def listed() -> bool:
        """ingress and ov1 in the manager's network ls"""
        names = node1.docker("network", "ls", "--format", "{{.Name}} {{.Scope}}").stdout.split("\n")
        return "ingress swarm" in names and "ov1 swarm" in names

    eventually(listed, timeout=5)
    refused = node2.docker("network", "create", "-d", "overlay", "ov-worker", check=False)
    assert "Worker nodes can't be used to view or modify cluster state" in refused.stderr
    # a worker knows a swarm network only once it has a sandbox on it, as dockerd's; ingress and
    # docker_gwbridge it has from the start
    assert "ov1" not in node2.docker("network", "ls").stdout
    eventually(lambda: {"ingress", "docker_gwbridge"} <= set(
        node2.docker("network", "ls", "--format", "{{.Name}}").stdout.split()), timeout=10)


def test_across_the_router_ping_tcp_and_names(hosts: ClusterHosts) -> None:
    node1, node2, node3 = hosts.daemons
    a1, b1, c1 = sandbox(node1, "a1", "ov1"), sandbox(node2, "b1", "ov1"), sandbox(node3, "c1", "ov1")
    ip_a, ip_b, ip_c = (address(d, n, "ov1") for d, n in ((node1, "a1"), (node2, "b1"), (node3, "c1")))
    assert len({ip_a, ip_b, ip_c}) == 3 and all(ip.startswith("10.0.1.") for ip in (ip_a, ip_b, ip_c))
    assert pings(a1, ip_c, count=2) and pings(c1, ip_b) and pings(b1, ip_a)
    with server(a1, port=8080):
        assert request(c1, ip_a, 8080) == f"from {ip_c}"
    assert resolve(a1, "c1") == [ip_c] and resolve(c1, "a1.ov1") == [ip_a] and resolve(b1, "c1") == [ip_c]
    # MTU: the underlay's 1500 less VXLAN's 50
    link = json.loads(run_in(a1, "ip", "-j", "link", "show", "eth0").stdout)[0]
    assert link["mtu"] == 1450
    # vxlan0 answers ARP itself: a sandbox that asked before a peer was known asks again within 100 ms
    retrans = run_in(a1, "cat", "/proc/sys/net/ipv4/neigh/eth0/retrans_time_ms").stdout.strip()
    assert retrans == "100"
    # the way out is docker_gwbridge (eth1), masqueraded: the router answers
    routes = run_in(a1, "ip", "route", "show", "default").stdout
    assert "dev eth1" in routes
    assert pings(a1, "192.168.10.1")
    assert {"ov1", "docker_gwbridge"} <= set(node2.docker("network", "ls", "--format", "{{.Name}}").stdout.split())


def test_attachable_rule_leaves_nothing(hosts: ClusterHosts) -> None:
    node1, node2, _ = hosts.daemons
    node1.docker("network", "create", "-d", "overlay", "ov2")
    refused = node2.cnm("sandbox", "create", "--name", "b2", "--network", "ov2", check=False)
    assert refused.returncode != 0
    assert ("Could not attach to network ov2: rpc error: code = PermissionDenied desc = network ov2 not "
            "manually attachable") in refused.stderr
    assert "ov2" not in node2.docker("network", "ls").stdout
    assert "b2" not in node2.cnm("sandbox", "ls").stdout


def test_two_overlays_are_isolated(hosts: ClusterHosts) -> None:
    node1, _, node3 = hosts.daemons
    node1.docker("network", "create", "-d", "overlay", "--attachable", "ov3")
    a3, c3 = sandbox(node1, "a3", "ov3"), sandbox(node3, "c3", "ov3")
    ip_c3 = address(node3, "c3", "ov3")
    assert pings(a3, ip_c3, count=2)
    a1 = node1.sandbox_netns("a1")
    assert not pings(a1, ip_c3, count=1)
    assert resolve(a1, "c3") == []  # names are per network, as on one host
    assert resolve(c3, "a3") == [address(node1, "a3", "ov3")]


def test_collisions_are_refused_everywhere(hosts: ClusterHosts) -> None:
    node1 = hosts["node1"]
    overlap = node1.docker("network", "create", "-d", "overlay", "--subnet", "10.0.1.128/25", "ov-overlap",
                           check=False)
    assert "Pool overlaps with other one on this address space" in overlap.stderr
    taken = node1.docker("network", "create", "-d", "overlay", "-o",
                         "com.docker.network.driver.overlay.vxlanid_list=4097", "ov-vni", check=False)
    assert "VXLAN ID 4097 is already in use" in taken.stderr
    bad = node1.docker("network", "create", "-d", "overlay", "-o",
                       "com.docker.network.driver.overlay.vxlanid_list=many", "ov-vni", check=False)
    assert bad.returncode == 1 and "vxlanid_list" in bad.stderr
    names = node1.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert "ov-overlap" not in names and "ov-vni" not in names
    # what was refused took nothing: the same subnet and VNI are free for a network that asks right
    own = node1.docker("network", "create", "-d", "overlay", "--subnet", "10.9.0.0/24", "-o",
                       "com.docker.network.driver.overlay.vxlanid_list=5000", "ov-own").stdout.strip()
    inspected = json.loads(node1.docker("network", "inspect", own).stdout)[0]
    assert inspected["IPAM"]["Config"][0]["Subnet"] == "10.9.0.0/24"
    assert inspected["Options"]["com.docker.network.driver.overlay.vxlanid_list"] == "5000"
    node1.docker("network", "rm", "ov-own")


def test_an_overlay_and_a_bridge_at_once(hosts: ClusterHosts) -> None:
    node1, _, node3 = hosts.daemons
    node1.docker("network", "create", "--subnet", "10.77.0.0/24", "local1")
    node1.docker("network", "connect", "local1", "a1")
    a1 = node1.sandbox_netns("a1")
    assert "10.77.0." in run_in(a1, "ip", "-br", "addr").stdout
    assert pings(a1, address(node3, "c1", "ov1"))
    node1.docker("network", "disconnect", "local1", "a1")
    node1.docker("network", "rm", "local1")


def test_dual_stack_overlay(hosts: ClusterHosts) -> None:
    node1, _, node3 = hosts.daemons
    node1.docker("network", "create", "-d", "overlay", "--attachable", "--ipv6", "--subnet", "10.5.0.0/24",
                 "--subnet", "fd00:5::/64", "ov6")
    s6a, s6c = sandbox(node1, "s6a", "ov6"), sandbox(node3, "s6c", "ov6")
    v6 = node3.inspect("sandbox", "s6c")["Networks"]["ov6"]["GlobalIPv6Address"]
    assert v6.startswith("fd00:5::")
    assert run_in(s6a, "ping", "-6", "-c", "2", "-W", "2", v6, check=False).returncode == 0
    assert pings(s6c, address(node1, "s6a", "ov6"))
    answer = json.loads(run_in(s6a, sys.executable, DNS_CLIENT, "query", "s6c", "AAAA").stdout)
    assert answer["answers"] == [v6]


def test_encrypted_is_refused_and_nothing_is_left(hosts: ClusterHosts) -> None:
    node1 = hosts["node1"]
    refused = node1.docker("network", "create", "-d", "overlay", "-o", "encrypted", "ov-enc", check=False)
    if refused.returncode == 0:
        pytest.skip("this kernel has IPsec ESP")
    assert "ESP" in refused.stderr and "this kernel lacks" in refused.stderr
    assert "ov-enc" not in node1.docker("network", "ls").stdout
    node1.docker("network", "create", "-d", "overlay", "ov-enc")  # the name and its subnet were given back
    node1.docker("network", "rm", "ov-enc")


def test_a_killed_host_leaves_and_comes_back(hosts: ClusterHosts) -> None:
    node1, _, node3 = hosts.daemons
    a1 = node1.sandbox_netns("a1")
    ip_c = address(node3, "c1", "ov1")
    mac_c = node3.inspect("sandbox", "c1")["Networks"]["ov1"]["MacAddress"]
    nid = json.loads(node1.docker("network", "inspect", "ov1").stdout)[0]["Id"]
    node3.kill9()

    def gone() -> bool:
        """c1 gone from node1's DNS, neighbour table and FDB"""
        # the VXLAN device's own entries (dst VTEP); br0's learnt ones age out by themselves
        fdb = "\n".join(line for line in run_in(overlay_ns(node1, nid), "bridge", "fdb", "show", "dev", "vxlan0")
                        .stdout.splitlines() if " dst " in line)
        neigh = run_in(overlay_ns(node1, nid), "ip", "neigh", "show", "dev", "vxlan0").stdout
        return resolve(a1, "c1") == [] and mac_c not in fdb and ip_c not in neigh

    eventually(gone)
    node3.start()

    def back() -> bool:
        """c1 back in node1's DNS and reachable"""
        return resolve(a1, "c1") == [ip_c] and pings(a1, ip_c)

    eventually(back)


def test_a_partition_heals_without_restart(hosts: ClusterHosts) -> None:
    node1, _, node3 = hosts.daemons
    a1, c1 = node1.sandbox_netns("a1"), node3.sandbox_netns("c1")
    ip_a, ip_c = address(node1, "a1", "ov1"), address(node3, "c1", "ov1")
    router = f"/run/netns/{hosts.underlay.router}"
    run_in(router, "ip", "link", "set", "ethb", "down")
    try:
        eventually(lambda: resolve(a1, "c1") == [])
    finally:
        run_in(router, "ip", "link", "set", "ethb", "up")

    def healed() -> bool:
        """both sides see each other again"""
        return resolve(a1, "c1") == [ip_c] and resolve(c1, "a1") == [ip_a] and pings(a1, ip_c)

    eventually(healed, timeout=60)


def test_a_worker_drops_its_instance_with_its_last_sandbox(hosts: ClusterHosts) -> None:
    node2 = hosts["node2"]
    node2.cnm("sandbox", "rm", "-f", "b1")
    nid = json.loads(hosts["node1"].docker("network", "inspect", "ov1").stdout)[0]["Id"]
    eventually(lambda: "ov1" not in node2.docker("network", "ls").stdout)
    # ingress stays: the node's routing-mesh sandbox (ingress-sbox) is on it, as on dockerd
    overlays = os.path.join(node2.exec_root, "overlay")
    assert nid[:12] not in (os.listdir(overlays) if os.path.isdir(overlays) else [])
