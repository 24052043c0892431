"""The overlay lab and benchmark stay runnable: the hand-built VXLAN on a bare underlay, the lab
(labs/overlay.py) end to end on three hosts, and the benchmark with tiny durations on two.

The lab and the benchmark run as a user runs them, as programs; what is checked is that they
finish, say what they measured, and leave no namespace behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid

import pytest

from libnetwork.labkit.underlay import Underlay, netns_list
from libnetwork.labkit.vxlan import HandVxlan
from libnetwork.testing import run_in

LABS = os.path.join(os.path.dirname(__file__), "..", "..", "labs")


def needs_cluster_tools() -> None:
    if any(shutil.which(tool) is None for tool in ("serf", "etcd", "docker")):
        pytest.skip("needs Debian's serf and etcd-server and the docker CLI")


def run_lab(script: str, *argv: str, timeout: float) -> str:
    result = subprocess.run([sys.executable, os.path.join(LABS, script), *argv], capture_output=True, text=True,
                            timeout=timeout, cwd="/")
    assert result.returncode == 0, f"{script} failed ({result.returncode}):\n{result.stdout[-3000:]}{result.stderr}"
    return result.stdout


def test_hand_built_vxlan_crosses_the_router_and_goes_away():
    ul = Underlay(2, f"hv{uuid.uuid4().hex[:6]}-").up(verbose=False)
    hand = HandVxlan(ul, ("node1", "node2"))
    try:
        hand.up()
        a, b = hand.ends
        assert run_in(a.netns, "ping", "-c1", "-W2", b.ip, check=False).returncode == 0
        link = json.loads(run_in(a.netns, "ip", "-j", "link", "show", "eth0").stdout)[0]
        assert link["mtu"] == 1450
        # the VXLAN device's UDP socket is the host's, so its packets take the host's route via the router
        sockets = ul.run("node1", "ss", "-Hlun", "sport", "=", ":4789").stdout
        assert "4789" in sockets
        details = run_in(f"/run/netns/{a.bridge_ns}", "ip", "-d", "link", "show", "vx0").stdout
        assert f"local {ul.ip('node1')}" in details and f"remote {ul.ip('node2')}" in details
    finally:
        hand.down()
        ul.down(verbose=False)
    assert not {ns for ns in netns_list() if ns.startswith(ul.prefix)}


def test_the_overlay_lab_runs_end_to_end():
    needs_cluster_tools()
    out = run_lab("overlay.py", "-n", "3", timeout=150)
    assert "hello 10.0.1.2, this is s3" in out
    assert re.search(r"s3 gone from node1: name [\d.]+ s, FDB entry [\d.]+ s after the kill", out)
    assert re.search(r"s3 back on node1: name [\d.]+ s, ping [\d.]+ s after the restart", out)
    assert out.rstrip().endswith("everything removed")
    assert not [ns for ns in netns_list() if ns.startswith("olab-")]


def test_the_overlay_benchmark_runs_with_tiny_durations():
    needs_cluster_tools()
    if shutil.which("iperf3") is None:
        pytest.skip("needs iperf3")
    out = run_lab("bench_overlay.py", "--hosts", "2", "--runs", "1", "--seconds", "1", "--samples", "2",
                  "--kills", "1", timeout=150)
    table = out[out.index("| measure"):]
    for measure in ("cnmd overlay", "hand-built VXLAN", "connect -> first ping", "kill -9 -> name gone",
                    "kill -9 -> FDB entry gone", "restart -> name back"):
        assert measure in table, f"{measure} missing from:\n{table}"
    assert re.search(r"\| [\d.]+x the hand-built VXLAN", table)
    assert not [ns for ns in netns_list() if ns.startswith("bov2-")]
