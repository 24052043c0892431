"""The multi-host harness itself: the routed underlay, one daemon per host with its own
hostname, and a teardown that leaves no namespace and no process behind (also after kill -9).
"""

from __future__ import annotations

import os
import subprocess
import uuid

from libnetwork.labkit.reaper import pids_in_netns, pids_naming
from libnetwork.labkit.underlay import Underlay, netns_list
from libnetwork.testing import cluster_hosts

from .conftest import api


def test_underlay_routes_between_segments():
    ul = Underlay(3, f"ult{uuid.uuid4().hex[:6]}-")
    try:
        ul.up(verbose=False)
        assert ul.host("node1").segment != ul.host("node3").segment
        assert ul.ping("node1", "node3"), "node1 does not reach node3 across the router"
        trace = ul.run("node1", "ip", "route", "get", ul.ip("node3")).stdout
        assert f"via {ul.host('node1').gateway}" in trace
        assert ul.is_up()
    finally:
        ul.down(verbose=False)
    assert ul.owned() == []


def _sleeper_naming(path: str, netns_path: str) -> subprocess.Popen:
    """A stand-in for a child cnmd started in its own session (as Serf is): it survives cnmd's death."""
    return subprocess.Popen(["nsenter", f"--net={netns_path}", "python3", "-c", "import time; time.sleep(300)", path],
                            start_new_session=True)


def test_cluster_hosts_three_daemons_with_hostnames_and_clean_teardown():
    with cluster_hosts(3) as hosts:
        prefix = hosts.underlay.prefix
        assert hosts.names == ["node1", "node2", "node3"]
        for name in hosts.names:
            daemon = hosts[name]
            assert daemon.docker("version", "--format", "{{.Server.Version}}").stdout.strip()
            status, info, _ = api(daemon, "GET", "/info")
            assert status == 200 and info["Name"] == name
            assert daemon.run_on_host("hostname").stdout.strip() != name  # the UTS namespace is cnmd's alone
        roots = [d.root for d in hosts.daemons]
        # The daemons reach each other over the underlay, from their own namespaces.
        assert hosts["node1"].run_on_host("ping", "-c1", "-W2", hosts.ip("node3")).returncode == 0
        # kill -9 leaves a session-detached child running; teardown must still end it.
        node3 = hosts["node3"]
        orphan = _sleeper_naming(os.path.join(node3.data_root, "child"), node3.netns_path)
        node3.kill9()
        assert orphan.poll() is None
        node_paths = [h.netns_path for h in hosts.underlay.hosts]
    orphan.wait(5)
    assert not any(ns.startswith(prefix) for ns in netns_list())
    assert not any(pids_naming(root) for root in roots)
    assert not any(os.path.exists(root) for root in roots)
    assert not any(pids_in_netns(path) for path in node_paths)
