"""Swarm services on three hosts behind a router: node1 (manager) and node2 on segment A, node3 on B.

Driven as a user would: ``docker service ...`` against node1, real
connections from sandboxes and from the router (outside the cluster).  Each
task runs tests/netns/task_server.py, which says which task answered.  The
tests share the hosts and run in file order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from libnetwork.labkit import taskclient, taskserver
from libnetwork.testing import ClusterHosts, Daemon, cluster_hosts, run_in

pytestmark = pytest.mark.netns

SERVER, CLIENT = taskserver.__file__, taskclient.__file__
DNS_CLIENT = os.path.join(os.path.dirname(__file__), "dns_client.py")
CONVERGE = 30.0


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
        node1.docker("network", "create", "-d", "overlay", "--attachable", "svcnet")
        yield cluster


def eventually(check, timeout: float = CONVERGE, interval: float = 0.3) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout}s: {check.__doc__ or check}")
        time.sleep(interval)
    return time.monotonic() - start


def running_tasks(manager: Daemon, service: str) -> list[tuple[str, str]]:
    """(node hostname, task name) of the service's tasks that run."""
    out = manager.docker("service", "ps", service, "--filter", "desired-state=running",
                         "--format", "{{.Node}} {{.Name}} {{.CurrentState}}").stdout
    return [(line.split()[0], line.split()[1]) for line in out.splitlines() if " Running" in line]


def resolve(netns: str, name: str) -> list[str]:
    answer = run_in(netns, sys.executable, DNS_CLIENT, "query", name, "A").stdout
    return sorted(json.loads(answer)["answers"])


def spread(netns: str, host: str, port: int, count: int = 200) -> dict:
    return json.loads(run_in(netns, sys.executable, CLIENT, "spread", host, str(port), str(count),
                             timeout=120).stdout)


def listening(netns: str, host: str, port: int, tasks: int) -> bool:
    """"Running" is the command started, as Docker's: a task's server listens a moment later."""
    result = spread(netns, host, port, count=5 * tasks)
    return result["errors"] == 0 and len(result["tasks"]) == tasks


def create_web(manager: Daemon, replicas: int = 4, *extra: str) -> str:
    return manager.docker("service", "create", "--detach", "--name", "web", "--replicas", str(replicas),
                          "--network", "svcnet", "-p", "8080:80", *extra,
                          "busybox", sys.executable, SERVER, "80").stdout.strip()


def test_a_service_spreads_and_answers_on_its_vip(hosts: ClusterHosts) -> None:
    node1, node2, _ = hosts.daemons
    service_id = create_web(node1)
    assert len(service_id) == 25
    eventually(lambda: len(running_tasks(node1, "web")) == 4)
    per_node: dict[str, int] = {}
    for node, _ in running_tasks(node1, "web"):
        per_node[node] = per_node.get(node, 0) + 1
    assert sorted(per_node.values()) == [1, 1, 2] and set(per_node) == {"node1", "node2", "node3"}

    service = json.loads(node1.docker("service", "inspect", "web").stdout)[0]
    vips = {v["NetworkID"]: v["Addr"].split("/")[0] for v in service["Endpoint"]["VirtualIPs"]}
    svcnet = json.loads(node1.docker("network", "inspect", "svcnet").stdout)[0]["Id"]
    vip = vips[svcnet]

    node2.cnm("sandbox", "create", "--name", "client", "--network", "svcnet")
    client = node2.sandbox_netns("client")
    eventually(lambda: resolve(client, "web") == [vip])
    eventually(lambda: len(resolve(client, "tasks.web")) == 4)
    eventually(lambda: listening(client, vip, 80, 4))
    result = spread(client, vip, 80)
    assert result["errors"] == 0 and len(result["tasks"]) == 4, result
    assert min(result["tasks"].values()) >= 20, result  # 200 over 4: every task gets a share
    # the task sees the client's own address (balanced in the client's namespace, as swarm's IPVS)
    client_ip = node2.inspect("sandbox", "client")["Networks"]["svcnet"]["IPAddress"]
    assert result["peers"] == [client_ip]


def test_the_published_port_answers_on_a_node_without_tasks(hosts: ClusterHosts) -> None:
    node1 = hosts["node1"]
    node1.docker("node", "update", "--availability", "drain", "node3")
    try:
        eventually(lambda: {n for n, _ in running_tasks(node1, "web")} == {"node1", "node2"}
                   and len(running_tasks(node1, "web")) == 4)
        router = f"/run/netns/{hosts.underlay.router}"
        eventually(lambda: listening(router, hosts.ip("node3"), 8080, 4))
        result = spread(router, hosts.ip("node3"), 8080)
        assert result["errors"] == 0 and len(result["tasks"]) == 4, result
        assert min(result["tasks"].values()) >= 20, result
    finally:
        node1.docker("node", "update", "--availability", "active", "node3")


def test_a_task_removed_mid_run_breaks_no_other_connection(hosts: ClusterHosts) -> None:
    node1, node2, _ = hosts.daemons
    client = node2.sandbox_netns("client")
    vip = resolve(client, "web")[0]
    holder = subprocess.Popen(["nsenter", f"--net={client}", sys.executable, CLIENT, "hold", vip, "80", "40"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdin is not None and holder.stdout is not None
    try:
        before = json.loads(holder.stdout.readline())
        assert len(set(before)) == 4
        node1.docker("service", "scale", "--detach", "web=3")
        eventually(lambda: len(running_tasks(node1, "web")) == 3)
        eventually(lambda: len(resolve(client, "tasks.web")) == 3)
        holder.stdin.write("go\n")
        holder.stdin.flush()
        after = json.loads(holder.stdout.readline())
    finally:
        holder.kill()
        holder.wait()
    kept = {name for name in before if name in after}
    for name_before, name_after in zip(before, after, strict=True):
        # connections to the three tasks left go on with the same task; the removed task's broke
        assert name_after in (name_before, "error")
    assert len(kept) == 3
    assert sum(1 for a in after if a == "error") == sum(1 for b in before if b not in kept)
    result = spread(client, vip, 80, count=60)
    assert result["errors"] == 0 and len(result["tasks"]) == 3


def test_a_killed_node_has_its_tasks_placed_again(hosts: ClusterHosts) -> None:
    node1, node2, node3 = hosts.daemons
    node1.docker("service", "scale", "--detach", "web=4")
    eventually(lambda: len(running_tasks(node1, "web")) == 4)
    assert "node3" in {n for n, _ in running_tasks(node1, "web")}
    node3.kill9()
    try:
        eventually(lambda: {n for n, _ in running_tasks(node1, "web")} <= {"node1", "node2"}
                   and len(running_tasks(node1, "web")) == 4, timeout=60)
        client = node2.sandbox_netns("client")
        vip = resolve(client, "web")[0]
        eventually(lambda: len(resolve(client, "tasks.web")) == 4, timeout=30)
        eventually(lambda: listening(client, vip, 80, 4))
        result = spread(client, vip, 80, count=80)
        assert result["errors"] == 0 and len(result["tasks"]) == 4, result
    finally:
        node3.start()
    # back, it removes its old tasks' sandboxes, and nobody learns them again
    eventually(lambda: "web." not in node3.cnm("sandbox", "ls").stdout)
    time.sleep(2)
    assert len(resolve(client, "tasks.web")) == 4


def test_a_restarted_node_runs_its_tasks_again(hosts: ClusterHosts) -> None:
    node1, node2, _ = hosts.daemons
    before = sorted(running_tasks(node1, "web"))
    assert "node2" in {n for n, _ in before}
    node2.stop()
    node2.start()
    # the same tasks (no new ones): their sandboxes were kept, their commands started again
    client = node2.sandbox_netns("client")
    vip = resolve(client, "web")[0]
    eventually(lambda: listening(client, vip, 80, 4))
    assert sorted(running_tasks(node1, "web")) == before


def test_dnsrr_answers_the_tasks(hosts: ClusterHosts) -> None:
    node1, node2, _ = hosts.daemons
    node1.docker("service", "create", "--detach", "--name", "rr", "--replicas", "2", "--network", "svcnet",
                 "--endpoint-mode", "dnsrr", "busybox", sys.executable, SERVER, "81")
    eventually(lambda: len(running_tasks(node1, "rr")) == 2)
    service = json.loads(node1.docker("service", "inspect", "rr").stdout)[0]
    assert not service["Endpoint"].get("VirtualIPs")
    client = node2.sandbox_netns("client")
    eventually(lambda: len(resolve(client, "rr")) == 2)
    assert resolve(client, "rr") == resolve(client, "tasks.rr")
    node1.docker("service", "rm", "rr")
    eventually(lambda: resolve(client, "rr") == [])


def test_the_docker_cli_drives_services(hosts: ClusterHosts) -> None:
    node1 = hosts["node1"]
    listed = node1.docker("service", "ls", "--format", "{{.Name}} {{.Mode}} {{.Replicas}} {{.Ports}}").stdout
    assert "web replicated 4/4 *:8080->80/tcp" in listed
    pretty = node1.docker("service", "inspect", "--pretty", "web").stdout
    assert "Replicas:\t4" in pretty or "Replicas:        4" in pretty
    node1.docker("service", "scale", "--detach", "web=2")
    eventually(lambda: len(running_tasks(node1, "web")) == 2)
    node1.docker("service", "rm", "web")
    eventually(lambda: "web" not in node1.docker("service", "ls").stdout)

    def tasks_gone() -> bool:
        """no task sandbox left on any node"""
        return all("web." not in d.cnm("sandbox", "ls").stdout for d in hosts.daemons)

    eventually(tasks_gone)


def test_bad_input_leaves_nothing(hosts: ClusterHosts) -> None:
    node1 = hosts["node1"]
    node1.docker("service", "create", "--detach", "--name", "first", "-p", "9090:80", "busybox",
                 sys.executable, SERVER, "80")
    taken = node1.docker("service", "create", "--detach", "--name", "second", "-p", "9090:80", "busybox",
                         sys.executable, SERVER, "80", check=False)
    assert taken.returncode != 0 and "9090" in taken.stderr and "already in use" in taken.stderr
    node1.docker("network", "create", "--driver", "bridge", "localnet")
    local = node1.docker("service", "create", "--detach", "--name", "third", "--network", "localnet", "busybox",
                         check=False)
    assert local.returncode != 0
    negative = node1.docker("service", "scale", "first=-1", check=False)
    assert negative.returncode != 0
    names = node1.docker("service", "ls", "--format", "{{.Name}}").stdout.split()
    assert names == ["first"]
    node1.docker("service", "rm", "first")
    node1.docker("network", "rm", "localnet")
