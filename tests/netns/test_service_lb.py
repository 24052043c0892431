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

from libnetwork.firewall.lbapi import Backend, LbRuleset, LbService, ServiceVip, VipConflict
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


def test_benchmark_runs():
    """labs/bench_service_lb.py keeps working (tiny sizes and one-second traffic)."""
    bench = os.path.join(os.path.dirname(__file__), "..", "..", "labs", "bench_service_lb.py")
    out = subprocess.run([sys.executable, bench, "--sizes", "10,100", "--samples", "3", "--seconds", "1"],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    assert "| 100 |" in out and "ratio VIP / direct" in out
