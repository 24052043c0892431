"""The lab kit's pure parts: node lookup in GET /nodes answers, role plans, the underlay's
addressing and drawing, and which command lines name a daemon's root."""

from __future__ import annotations

import pytest

from libnetwork.labkit.reaper import argument_under
from libnetwork.labkit.swarm import find_node, manager_count, roles, state_of
from libnetwork.labkit.underlay import Underlay


def _node(node_id: str, hostname: str, state: str, created: str = "2026-01-01T00:00:00Z") -> dict:
    return {"ID": node_id, "CreatedAt": created, "Description": {"Hostname": hostname}, "Status": {"State": state}}


def test_find_node_by_id_then_newest_with_the_hostname():
    old = _node("a", "node2", "down", "2026-01-01T00:00:00Z")
    new = _node("b", "node2", "ready", "2026-01-02T00:00:00Z")
    nodes = [old, new, _node("c", "node3", "ready")]
    assert find_node(nodes, node_id="a") is old
    assert find_node(nodes, hostname="node2") is new
    assert find_node(nodes, node_id="zz", hostname="node3") is nodes[2]
    assert find_node(nodes, hostname="node9") is None
    assert state_of(None) == "absent" and state_of(new) == "ready"


def test_roles_keep_an_etcd_quorum():
    assert [manager_count(n) for n in (1, 2, 3, 10)] == [1, 1, 3, 3]
    assert roles(4, 3) == ["manager", "manager", "manager", "worker"]
    with pytest.raises(ValueError):
        roles(2, 3)


def test_underlay_addressing_and_drawing():
    ul = Underlay(10, "t-")
    assert ul.segments == "AAAAABBBBB"
    assert ul.ip("node1") == "192.168.10.11" and ul.ip("node10") == "192.168.20.20"
    assert ul.netns_path("node4") == "/run/netns/t-node4"
    drawing = ul.diagram()
    assert all(h.addr in drawing and h.name in drawing for h in ul.hosts)
    with pytest.raises(ValueError):
        Underlay(11)


def test_an_argument_names_a_root_only_at_a_path_boundary():
    assert argument_under(b"/tmp/x", b"/tmp/x")
    assert argument_under(b"--data-dir=/tmp/x/data/etcd", b"/tmp/x")
    assert not argument_under(b"/tmp/x2/data", b"/tmp/x")
    assert argument_under(b"/tmp/x2:/tmp/x/y", b"/tmp/x")
