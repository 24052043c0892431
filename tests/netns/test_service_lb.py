"""The nftables service load balancer with real packets: spread, removal under load, conntrack, cleanup.

A node namespace with a bridge, four task namespaces answering their own
address, a client on the same bridge (so replies are hairpinned back through
the node) and the node's own sockets (the output hook).
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import uuid

import pytest

from libnetwork.errors import InvalidParameter
from libnetwork.firewall.lbapi import EVERY_PORT, Backend, LbRuleset, LbService, ServiceVip, VipConflict
from libnetwork.firewall.lbnft import NftLoadBalancer
from libnetwork.labkit.lbtraffic import Held, LbTopology, connections, tasks
from libnetwork.testing import run_in


@pytest.fixture(scope="module")
def topo():
    topology = LbTopology(f"lb{uuid.uuid4().hex[:6]}")
    yield topology
    topology.remove()


@pytest.fixture(scope="module")
def servers(topo):
    with tasks(topo.tasks):
        yield


@pytest.fixture
def lb(topo):
    balancer = NftLoadBalancer(topo.node_path)
    balancer.setup()
    balancer.add_interface("br0")
    yield balancer
    balancer.cleanup()
    balancer.close()


def _vip(topo, protocol: str = "tcp", service: str = "web") -> ServiceVip:
    return ServiceVip(service, ipaddress.ip_address(topo.vip), protocol, 80)


def _backends(topo) -> list[Backend]:
    return [Backend(ipaddress.ip_address(a), 80) for a in topo.tasks]


def _ruleset(topo) -> list[dict]:
    listing = json.loads(run_in(topo.node_path, "nft", "-j", "list", "ruleset").stdout)["nftables"]
    return [i for i in listing if "metainfo" not in i]


def test_spread_removal_under_load_and_readd(topo, servers, lb):
    vip, backends = _vip(topo), _backends(topo)
    lb.ensure_service(vip, backends)
    seen, _ = connections(topo.client, topo.vip, 80, 200)
    assert set(seen) == set(topo.tasks), seen
    assert all(n > 20 for n in seen.values()), seen          # each more than 10% of 200

    held = Held(topo.client, topo.vip, 80)
    try:
        assert held.served_by in topo.tasks
        assert held.echo("before") == "before"
        gone = next(b for b in backends if str(b.address) != held.served_by)
        lb.remove_backend(vip, gone)
        assert gone not in lb.backends(vip)
        assert held.echo("after") == "after"                 # conntrack kept the flow where it was
        seen, _ = connections(topo.client, topo.vip, 80, 120)
        assert str(gone.address) not in seen and sum(seen.values()) == 120, seen
        assert held.echo("still") == "still"
        lb.add_backend(vip, gone)
        seen, _ = connections(topo.client, topo.vip, 80, 120)
        assert seen[str(gone.address)] > 0, seen
        assert held.echo("end") == "end"
    finally:
        held.close()


def test_local_sockets_and_udp(topo, servers, lb):
    lb.ensure_service(_vip(topo), _backends(topo))
    lb.ensure_service(_vip(topo, "udp"), _backends(topo))
    seen, _ = connections(topo.node_path, topo.vip, 80, 40)      # the node's own sockets: the output hook
    assert len(seen) >= 2 and not any(k.startswith("error") for k in seen), seen
    seen, _ = connections(topo.client, topo.vip, 80, 60, proto="udp")
    assert len(seen) >= 2 and not any(k.startswith("error") for k in seen), seen


def test_no_backend_refuses(topo, servers, lb):
    lb.ensure_service(_vip(topo), [])
    seen, _ = connections(topo.client, topo.vip, 80, 3)
    assert seen == {"error ConnectionRefusedError": 3}


def test_idempotent_and_leaves_nothing(topo, lb):
    before = _ruleset(topo)
    vip, backends = _vip(topo), _backends(topo)
    lb.ensure_service(vip, backends)
    once = _ruleset(topo)
    lb.ensure_service(vip, backends)
    lb.add_backend(vip, backends[0])
    assert _ruleset(topo) == once
    with pytest.raises(VipConflict):
        lb.ensure_service(_vip(topo, service="other"), backends)
    lb.remove_backend(vip, backends[1])
    lb.remove_backend(vip, backends[1])
    lb.remove_service(vip)
    lb.remove_service(vip)
    assert _ruleset(topo) == before
    assert not [i for i in before if "chain" in i and i["chain"]["name"].startswith("svc-")]
    assert not [i for i in before if "elem" in json.dumps(i) and "backends" in json.dumps(i)]


def test_restart_and_reconcile(topo, lb):
    vip, backends = _vip(topo), _backends(topo)
    lb.ensure_service(vip, backends[:3])
    again = NftLoadBalancer(topo.node_path)          # a restarted daemon learns the table back
    try:
        again.setup()
        assert again.backends(vip) == lb.backends(vip)
        # someone else's edits: a stray backend element and a missing interface
        run_in(topo.node_path, "nft", "add", "element", "inet", "cnm-lb", "backends4_tcp",
               "{ 10.9.9.9 . 80 . 0 : 10.9.9.1 . 80 }")
        run_in(topo.node_path, "nft", "delete", "element", "inet", "cnm-lb", "interfaces", '{ "br0" }')
        desired = LbRuleset(services=(LbService(vip, tuple(backends)),), interfaces=("br0",))
        assert again.reconcile(desired) == 2
        assert set(again.backends(vip)) == set(backends)
        assert again.reconcile(desired) == 0
        assert again.reconcile(LbRuleset()) == 2
        assert not [i for i in _ruleset(topo) if "chain" in i and i["chain"]["name"].startswith("svc-")]
    finally:
        again.close()


def test_cleanup_removes_the_table(topo):
    balancer = NftLoadBalancer(topo.node_path)
    balancer.setup()
    balancer.cleanup()
    balancer.cleanup()
    balancer.close()
    assert "cnm-lb" not in run_in(topo.node_path, "nft", "list", "tables").stdout


# -- every-port services ---------------------------------------------------------------------

P1, P2 = 8081, 8082


@pytest.fixture(scope="module")
def two_ports(topo):
    """Every task also listens on P1 and P2, answering "address:port" (which port the DNAT kept)."""
    with tasks({f"{a}:{P1}": p for a, p in topo.tasks.items()}, port=P1), \
            tasks({f"{a}:{P2}": p for a, p in topo.tasks.items()}, port=P2):
        yield


def _all(topo, protocol: str = "tcp", service: str = "web") -> ServiceVip:
    return ServiceVip(service, ipaddress.ip_address(topo.vip), protocol, EVERY_PORT)


def _anyport(addresses) -> list[Backend]:
    return [Backend(ipaddress.ip_address(a), EVERY_PORT) for a in addresses]


def test_every_port_spreads_each_port_over_every_backend(topo, two_ports, lb):
    two = list(topo.tasks)[:2]
    lb.ensure_service(_all(topo), _anyport(two))
    lb.ensure_service(_all(topo, "udp"), _anyport(two))
    for port in (P1, P2):
        for proto in ("tcp", "udp"):
            seen, _ = connections(topo.client, topo.vip, port, 60, proto=proto)
            assert set(seen) == {f"{a}:{port}" for a in two}, (port, proto, seen)
            assert min(seen.values()) > 6, (port, proto, seen)       # each more than 10% of 60


def test_exact_port_wins_over_every_port(topo, two_ports, lb):
    addresses = list(topo.tasks)
    lb.ensure_service(_all(topo), _anyport(addresses[:2]))
    exact = ServiceVip("api", ipaddress.ip_address(topo.vip), "tcp", P2)
    lb.ensure_service(exact, [Backend(ipaddress.ip_address(addresses[3]), P1)])
    seen, _ = connections(topo.client, topo.vip, P2, 20)
    assert seen == {f"{addresses[3]}:{P1}": 20}, seen
    seen, _ = connections(topo.client, topo.vip, P1, 20)
    assert set(seen) <= {f"{a}:{P1}" for a in addresses[:2]} and sum(seen.values()) == 20, seen
    lb.ensure_service(exact, [])                                     # still the exact one's: refused
    seen, _ = connections(topo.client, topo.vip, P2, 3)
    assert seen == {"error ConnectionRefusedError": 3}, seen
    lb.remove_service(exact)
    seen, _ = connections(topo.client, topo.vip, P2, 20)
    assert set(seen) <= {f"{a}:{P2}" for a in addresses[:2]} and sum(seen.values()) == 20, seen


def test_every_port_backend_changes_keep_established_flows(topo, two_ports, lb):
    vip, backends = _all(topo), _anyport(topo.tasks)
    lb.ensure_service(vip, backends)
    held = Held(topo.client, topo.vip, P1)
    try:
        address, port = held.served_by.split(":")
        assert int(port) == P1 and held.echo("before") == "before"
        gone = Backend(ipaddress.ip_address(address), EVERY_PORT)
        lb.remove_backend(vip, gone)
        assert held.echo("after") == "after"
        seen, _ = connections(topo.client, topo.vip, P2, 60)
        assert f"{address}:{P2}" not in seen and sum(seen.values()) == 60, seen
        lb.add_backend(vip, gone)
        assert held.echo("readded") == "readded"
        seen, _ = connections(topo.client, topo.vip, P2, 120)
        assert seen[f"{address}:{P2}"] > 0, seen
    finally:
        held.close()
    with pytest.raises(InvalidParameter):
        lb.add_backend(vip, Backend(gone.address, P1))
    with pytest.raises(InvalidParameter):
        lb.ensure_service(_vip(topo), [gone])
    with pytest.raises(VipConflict):
        lb.ensure_service(_all(topo, service="other"), backends)


def test_every_port_restart_learns_and_removes(topo, two_ports, lb):
    vip, backends = _all(topo), _anyport(topo.tasks)
    vip6 = ServiceVip("web6", ipaddress.ip_address("fd77::250"), "udp", EVERY_PORT)
    backends6 = [Backend(ipaddress.ip_address(f"fd77::{i}"), EVERY_PORT) for i in (11, 12)]
    exact = ServiceVip("api", ipaddress.ip_address(topo.vip), "tcp", P2)
    lb.ensure_service(vip, backends)
    lb.ensure_service(vip6, backends6)
    lb.ensure_service(exact, [Backend(ipaddress.ip_address(list(topo.tasks)[0]), P2)])
    again = NftLoadBalancer(topo.node_path)          # a restarted daemon learns the table back
    try:
        again.setup()
        assert again.backends(vip) == lb.backends(vip) and again.backends(vip6) == tuple(backends6)
        assert len(again.backends(exact)) == 1
        gone = again.backends(vip)[1]
        again.remove_backend(vip, gone)
        again.remove_backend(vip6, backends6[0])
        seen, _ = connections(topo.client, topo.vip, P1, 60)
        assert f"{gone.address}:{P1}" not in seen and sum(seen.values()) == 60, seen
        desired = LbRuleset(services=(LbService(vip, tuple(b for b in backends if b != gone)),
                                      LbService(vip6, tuple(backends6[1:])),
                                      LbService(exact, again.backends(exact))), interfaces=("br0",))
        assert again.reconcile(desired) == 0
        assert again.reconcile(LbRuleset(interfaces=("br0",))) == 3
    finally:
        again.close()


def test_benchmark_runs():
    """labs/bench_service_lb.py keeps working (tiny sizes and one-second traffic)."""
    bench = os.path.join(os.path.dirname(__file__), "..", "..", "labs", "bench_service_lb.py")
    out = subprocess.run([sys.executable, bench, "--sizes", "10,100", "--samples", "3", "--seconds", "1"],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    assert "| 100 |" in out and "ratio VIP / direct" in out
