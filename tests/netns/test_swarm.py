"""The swarm on three hosts behind a router, driven by the real docker CLI.

node1 and node2 sit on segment A, node3 on segment B; every cnmd runs its
own etcd and Serf children.  The tests share the hosts and run in file
order, each leaving the cluster as the next expects: init and joins, the
worker's view, bad joins, kills and restarts, the third manager, a manager
lost.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
import time

import pytest

from libnetwork.labkit.reaper import pids_naming
from libnetwork.labkit.swarm import wait_node_state
from libnetwork.testing import ClusterHosts, Daemon, cluster_hosts

pytestmark = pytest.mark.netns

DOWN_WITHIN = 20.0  # Serf's LAN profile finds a dead member in 5-8 s here; dockerd takes 11-15 s


@pytest.fixture(scope="module")
def hosts():
    if subprocess.run(["which", "serf", "etcd"], capture_output=True).returncode != 0:
        pytest.skip("needs Debian's serf and etcd-server")
    with cluster_hosts(3) as cluster:
        yield cluster


def _ids(daemon: Daemon) -> list[str]:
    return daemon.docker("node", "ls", "-q").stdout.split()


def token(daemon: Daemon, role: str) -> str:
    return daemon.docker("swarm", "join-token", "-q", role).stdout.strip()


def children(daemon: Daemon, name: str) -> list[int]:
    """Live etcd or Serf processes whose arguments name this daemon's data root."""
    found = []
    for pid in pids_naming(daemon.data_root):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                argv0 = cmdline.read().split(b"\0")[0]
        except OSError:
            continue
        if os.path.basename(argv0).decode() == name:
            found.append(pid)
    return found


def test_init_and_joins(hosts: ClusterHosts) -> None:
    node1, node2, node3 = hosts.daemons
    out = node1.docker("swarm", "init", "--advertise-addr", hosts.ip("node1")).stdout
    assert "Swarm initialized: current node (" in out
    assert f"{hosts.ip('node1')}:2377" in out
    assert node2.docker("swarm", "join", "--token", token(node1, "manager"),
                        f"{hosts.ip('node1')}:2377").stdout.strip() == "This node joined a swarm as a manager."
    # across the router, from the other segment
    assert node3.docker("swarm", "join", "--token", token(node1, "worker"),
                        f"{hosts.ip('node1')}:2377").stdout.strip() == "This node joined a swarm as a worker."
    table = node1.docker("node", "ls").stdout.splitlines()
    assert table[0].split() == ["ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER", "STATUS", "ENGINE",
                                "VERSION"]
    rows = {line.split()[1] if "*" not in line else line.split()[2]: line for line in table[1:]}
    assert set(rows) == {"node1", "node2", "node3"}
    assert re.search(r"\*\s+node1\s+Ready\s+Active\s+Leader", rows["node1"])
    assert re.search(r"node2\s+Ready\s+Active\s+Reachable", rows["node2"])
    assert re.search(r"node3\s+Ready\s+Active\s+\S", rows["node3"]) and "Reachable" not in rows["node3"]
    info = json.loads(node1.docker("info", "--format", "{{json .Swarm}}").stdout)
    assert (info["LocalNodeState"], info["ControlAvailable"], info["Nodes"], info["Managers"]) == \
        ("active", True, 3, 2)


def test_worker_answers_as_a_worker(hosts: ClusterHosts) -> None:
    node3 = hosts["node3"]
    refused = node3.docker("node", "ls", check=False)
    assert refused.returncode == 1
    assert "Worker nodes can't be used to view or modify cluster state" in refused.stderr
    info = json.loads(node3.docker("info", "--format", "{{json .Swarm}}").stdout)
    assert info["LocalNodeState"] == "active" and info["ControlAvailable"] is False
    assert {m["Addr"] for m in info["RemoteManagers"]} == {f"{hosts.ip('node1')}:2377", f"{hosts.ip('node2')}:2377"}
    assert children(node3, "etcd") == [] and len(children(node3, "serf")) == 1


PROBE = textwrap.dedent("""
    import socket, ssl, sys
    host, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    def tcp():
        try:
            socket.create_connection((host, port), timeout=3).close()
            return "open"
        except OSError as err:
            return type(err).__name__
    def tls(with_cert):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if with_cert:
            context.load_cert_chain(cert, key)
        try:
            with socket.create_connection((host, port), timeout=3) as raw:
                with context.wrap_socket(raw) as conn:
                    conn.sendall(b"GET /members HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
                    answer = conn.recv(200)
                    return "answered" if answer.startswith(b"HTTP/1.1 200") else "refused"
        except (OSError, ssl.SSLError):
            return "refused"
    print(tcp() if port in (2379, 7373) else tls(cert != "-"))
""")


def probe(daemon: Daemon, host: str, port: int, cert: str = "-", key: str = "-") -> str:
    return daemon.run_on_host("python3", "-c", PROBE, host, str(port), cert, key).stdout.strip()


def test_etcd_is_unreachable_from_a_worker(hosts: ClusterHosts) -> None:
    node3 = hosts["node3"]
    manager = hosts.ip("node1")
    # clients on loopback only
    assert probe(node3, manager, 2379) == "ConnectionRefusedError"
    assert probe(node3, "127.0.0.1", 2379) == "ConnectionRefusedError"
    # nor is Serf's RPC reachable from another host
    assert probe(node3, manager, 7373) == "ConnectionRefusedError"
    # the peer port wants a manager's certificate: none, or the worker's own, is refused
    certs = os.path.join(node3.data_root, "swarm", "certificates")
    assert probe(node3, manager, 2380) == "refused"
    assert probe(node3, manager, 2380, os.path.join(certs, "swarm-node.crt"),
                 os.path.join(certs, "swarm-node.key")) == "refused"


def test_gossip_is_encrypted_on_the_wire(hosts: ClusterHosts) -> None:
    """Serf's packets between the segments never carry a node's ID (its member name) in clear."""
    node1 = hosts["node1"]
    # on the router: what crosses between the segments
    capture_ns = f"/run/netns/{hosts.underlay.router}"
    pcap = os.path.join(node1.root, "gossip.pcap")
    dump = subprocess.Popen(["nsenter", f"--net={capture_ns}", "tcpdump", "-i", "any", "-U", "-w", pcap,
                             "port", "7946"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(4)  # several probe rounds and gossip, at least one push-pull
        node1.docker("network", "ls")
    finally:
        dump.terminate()
        dump.wait(5)
    data = open(pcap, "rb").read()
    assert len(data) > 2000, "the capture saw no gossip"
    for daemon in hosts.daemons:
        node_id = json.loads(daemon.docker("info", "--format", "{{json .Swarm}}").stdout)["NodeID"]
        assert node_id.encode() not in data
    assert b"node1" not in data and b"role" not in data


def test_bad_joins_leave_nothing_behind(hosts: ClusterHosts) -> None:
    node1, node3 = hosts["node1"], hosts["node3"]
    assert node3.docker("swarm", "leave").stdout.strip() == "Node left the swarm."
    assert not os.path.exists(os.path.join(node3.data_root, "swarm"))
    manager = f"{hosts.ip('node1')}:2377"
    worker_token = token(node1, "worker")
    cases = [
        (worker_token.rsplit("-", 1)[0] + "-" + "0" * 25, manager,
         "rpc error: code = InvalidArgument desc = A valid join token is necessary to join this cluster"),
        ("SWMTKN-1-" + "1" * 50 + "-" + worker_token.rsplit("-", 1)[1], manager,
         "remote CA does not match fingerprint. Expected: "),
        ("SWMTKN-1-abc", manager, "invalid join token"),
        (worker_token, f"{hosts.ip('node2')}:2399", "connect: connection refused"),
    ]
    for bad, where, text in cases:
        answer = node3.docker("swarm", "join", "--token", bad, where, check=False)
        assert answer.returncode == 1 and text in answer.stderr, (bad, answer.stderr)
    # a rotated token is refused too, its replacement taken
    node1.docker("swarm", "join-token", "--rotate", "worker")
    answer = node3.docker("swarm", "join", "--token", worker_token, manager, check=False)
    assert "A valid join token is necessary" in answer.stderr
    assert json.loads(node3.docker("info", "--format", "{{json .Swarm}}").stdout)["LocalNodeState"] == "inactive"
    assert not os.path.exists(os.path.join(node3.data_root, "swarm"))
    assert children(node3, "serf") == [] and children(node3, "etcd") == []
    refused = node1.docker("swarm", "init", check=False)
    assert "This node is already part of a swarm" in refused.stderr
    node3.docker("swarm", "join", "--token", token(node1, "worker"), manager)
    # the node that left is Down under its old ID; node rm takes it away
    old = [n for n in json.loads(node1.docker("node", "inspect", *_ids(node1)).stdout)
           if n["Description"]["Hostname"] == "node3" and n["Status"]["State"] == "down"]
    assert len(old) == 1
    assert node1.docker("node", "rm", old[0]["ID"]).stdout.strip() == old[0]["ID"]


def test_worker_killed_and_restarted(hosts: ClusterHosts) -> None:
    node1, node3 = hosts["node1"], hosts["node3"]
    killed = time.monotonic()
    node3.kill9()
    took, node = wait_node_state(node1.socket, "down", hostname="node3", since=killed, timeout=DOWN_WITHIN + 10)
    assert took < DOWN_WITHIN and node["Status"]["Message"] == "heartbeat failure"
    started = time.monotonic()
    node3.start()
    wait_node_state(node1.socket, "ready", hostname="node3", since=started, timeout=20)
    assert len(children(node3, "serf")) == 1
    assert json.loads(node3.docker("info", "--format", "{{json .Swarm}}").stdout)["NodeID"] == node["ID"]


def test_promotion_makes_three_etcd_members(hosts: ClusterHosts) -> None:
    node1, node3 = hosts["node1"], hosts["node3"]
    assert node1.docker("node", "promote", "node3").stdout.strip() == "Node node3 promoted to a manager in the swarm."
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(children(node3, "etcd")) != 1:
        time.sleep(0.5)
    members = node1.run_on_host("etcdctl", "--endpoints", "http://127.0.0.1:2379", "member", "list").stdout
    assert len(members.strip().splitlines()) == 3
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if node3.docker("node", "ls", check=False).returncode == 0:
            break
        time.sleep(0.5)
    assert "Reachable" in node3.docker("node", "ls").stdout


def test_one_manager_killed_the_others_serve(hosts: ClusterHosts) -> None:
    node1, node2, node3 = hosts.daemons
    killed = time.monotonic()
    node1.kill9()
    wait_node_state(node2.socket, "down", hostname="node1", since=killed, timeout=DOWN_WITHIN + 10)
    # a write needs the quorum of the two left
    node2.docker("swarm", "join-token", "--rotate", "worker")
    assert "Unreachable" in node3.docker("node", "ls").stdout
    node1.start()
    wait_node_state(node2.socket, "ready", hostname="node1", timeout=30)
    assert len(children(node1, "etcd")) == 1 and len(children(node1, "serf")) == 1


def test_gossip_key_rotates_without_restart(hosts: ClusterHosts) -> None:
    node1 = hosts["node1"]
    keyring = os.path.join(node1.data_root, "swarm", "serf", "keyring.json")
    before = json.load(open(keyring))
    node1.cnm("swarm", "rotate-gossip-key")
    after = json.load(open(keyring))
    assert len(after) == 1 and after != before
    for daemon in hosts.daemons:
        assert json.load(open(os.path.join(daemon.data_root, "swarm", "serf", "keyring.json"))) == after
    # still one cluster: a member killed is still seen going down
    assert "node3" in node1.docker("node", "ls").stdout


def test_without_quorum_no_leader_until_the_managers_return(hosts: ClusterHosts) -> None:
    node1, node2, node3 = hosts.daemons
    node2.kill9()
    node3.kill9()
    deadline = time.monotonic() + 20
    while True:
        answer = node1.docker("node", "ls", check=False)
        if answer.returncode != 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert answer.stderr.strip() == (
        "Error response from daemon: rpc error: code = Unknown desc = The swarm does not have a leader. It's "
        "possible that too few managers are online. Make sure more than half of the managers are online.")
    info = json.loads(node1.docker("info", "--format", "{{json .Swarm}}").stdout)
    assert info["LocalNodeState"] == "active" and "does not have a leader" in info["Error"]
    node2.start()
    node3.start()
    for name in ("node2", "node3"):
        wait_node_state(node1.socket, "ready", hostname=name, timeout=40)


def test_last_manager_leaves_only_with_force(hosts: ClusterHosts) -> None:
    node1, node2, node3 = hosts.daemons
    refused = node2.docker("swarm", "leave", check=False)
    assert "You are attempting to leave the swarm on a node that is participating as a manager." in refused.stderr
    for daemon in (node3, node2):
        daemon.docker("swarm", "leave", "--force")
    last = node1.docker("swarm", "leave", check=False)
    assert "Removing the last manager erases all current state of the swarm" in last.stderr
    node1.docker("swarm", "leave", "--force")
    for daemon in hosts.daemons:
        assert children(daemon, "etcd") == [] and children(daemon, "serf") == []
        assert not os.path.exists(os.path.join(daemon.data_root, "swarm"))
