#!/usr/bin/env python3
"""Swarm services across cnmd hosts behind a router: virtual IPs, tasks.NAME and the routing mesh.

Builds the routed underlay and a swarm with the real docker CLI (as
labs/overlay.py), then:

    docker network create -d overlay --attachable web-net
    docker service create --name web --replicas 4 --network web-net -p 8080:80 busybox \\
        python3 .../taskserver.py 80      (each task says which task answered)
    docker service ps web                 the tasks, spread over the nodes
    a client sandbox on the last node resolves web (the VIP) and tasks.web (every task)
    200 connections to the VIP: the share each task got, and the address the task saw
    200 connections from the router (outside the swarm) to a node's published port
    kill -9 a worker's cnmd: timed until its tasks run elsewhere and the VIP still
      reaches four tasks

Each step prints its command and output.  Everything is removed at the end,
also on an error or Ctrl-C; --keep holds it up until Ctrl-C.

Usage (root; the docker CLI, serf and etcd on PATH):
    labs/services.py [-n 3] [--replicas 4] [--keep] [--no-kill]
"""
from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time

from libnetwork.labkit import overlay as ov
from libnetwork.labkit import taskclient, taskserver
from libnetwork.labkit.hostlab import lab_parser, run_lab
from libnetwork.labkit.narrate import BOLD, PLAIN, docker_step, say, show_run
from libnetwork.labkit.swarm import form_swarm, manager_count
from libnetwork.testing import ClusterHosts, run_in

PREFIX = "svlab-"
NETWORK = "web-net"
SERVICE = "web"
CONVERGE = 60.0


def running_tasks(hosts: ClusterHosts) -> list[tuple[str, str]]:
    out = subprocess.run(
        ["docker", "-H", hosts["node1"].host, "service", "ps", SERVICE, "--filter", "desired-state=running",
         "--format", "{{.Node}} {{.Name}} {{.CurrentState}}"], capture_output=True, text=True, timeout=30).stdout
    return [(line.split()[0], line.split()[1]) for line in out.splitlines() if " Running" in line]


def spread(netns: str, host: str, port: int, count: int) -> dict:
    result = run_in(netns, sys.executable, taskclient.__file__, "spread", host, str(port), str(count), timeout=120)
    return dict(json.loads(result.stdout))


def show_spread(where: str, target: str, result: dict) -> None:
    say(f"{BOLD}[{where}] $ {count_text(result)} connections to {target}{PLAIN}")
    for name, count in sorted(result["tasks"].items()):
        say(f"  task {name}: {count:>4} {'#' * (count // 4)}")
    say(f"  errors: {result['errors']}; the tasks saw the client as {', '.join(result['peers'])}")


def count_text(result: dict) -> str:
    return str(sum(result["tasks"].values()) + result["errors"])


def create_service(hosts: ClusterHosts, replicas: int) -> str:
    node1 = hosts["node1"]
    docker_step("node1", node1, "network", "create", "-d", "overlay", "--attachable", NETWORK)
    service_id = docker_step("node1", node1, "service", "create", "--detach", "--name", SERVICE, "--replicas",
                             str(replicas), "--network", NETWORK, "-p", "8080:80", "busybox",
                             sys.executable, taskserver.__file__, "80",
                             shown=("service", "create", "--detach", "--name", SERVICE, "--replicas", str(replicas),
                                    "--network", NETWORK, "-p", "8080:80", "busybox", "python3", "taskserver.py",
                                    "80"))
    took = ov.wait_for(lambda: len(running_tasks(hosts)) == replicas, timeout=CONVERGE, interval=0.5)
    say(f"{replicas} tasks running {took:.1f} s after the create")
    docker_step("node1", node1, "service", "ps", SERVICE)
    docker_step("node1", node1, "service", "ls")
    return service_id


def names_and_vip(hosts: ClusterHosts, replicas: int) -> tuple[str, str]:
    last = hosts.names[-1]
    daemon = hosts[last]
    show_run(last, ["cnm", "-H", daemon.host, "sandbox", "create", "--name", "client", "--network", NETWORK],
             f"cnm sandbox create --name client --network {NETWORK}")
    netns = daemon.sandbox_netns("client")
    ov.wait_for(lambda: len(ov.resolve(netns, f"tasks.{SERVICE}") or []) == replicas, timeout=CONVERGE,
                interval=0.3)
    vip = (ov.resolve(netns, SERVICE) or [""])[0]
    # "Running" is the command started, as on Docker: its server listens a moment later
    ov.wait_for(lambda: len(spread(netns, vip, 80, 12)["tasks"]) == replicas, timeout=CONVERGE, interval=0.3)
    say(f"{BOLD}[{last}/client] $ query A {SERVICE}{PLAIN}\n  {vip}    (the service's virtual IP on {NETWORK})")
    tasks = ", ".join(sorted(ov.resolve(netns, f"tasks.{SERVICE}") or []))
    say(f"{BOLD}[{last}/client] $ query A tasks.{SERVICE}{PLAIN}\n  {tasks}")
    return netns, vip


def kill_and_replace(hosts: ClusterHosts, netns: str, vip: str, replicas: int) -> None:
    on_node = {node for node, _ in running_tasks(hosts)}
    victim = next(name for name in reversed(hosts.names[1:-1] or hosts.names[1:]) if name in on_node)
    daemon = hosts[victim]
    say(f"\n{BOLD}[host] $ kill -9 {daemon.pid}{PLAIN}   # {victim}'s cnmd, which runs "
        f"{sum(1 for n, _ in running_tasks(hosts) if n == victim)} task(s)")
    killed = time.monotonic()
    daemon.kill9()
    took = ov.wait_for(lambda: victim not in {n for n, _ in running_tasks(hosts)}
                       and len(running_tasks(hosts)) == replicas, timeout=CONVERGE, interval=0.5,
                       since=killed)
    say(f"its tasks run elsewhere {took:.1f} s after the kill (Serf's failure detection, then placement)")
    docker_step("node1", hosts["node1"], "service", "ps", SERVICE, "--filter", "desired-state=running")
    ov.wait_for(lambda: len(ov.resolve(netns, f"tasks.{SERVICE}") or []) == replicas, timeout=CONVERGE,
                interval=0.3)
    show_spread(f"{hosts.names[-1]}/client", f"{vip}:80", spread(netns, vip, 80, 100))
    say(f"\n{BOLD}[{victim}] $ cnmd ...{PLAIN}   # back: its old task sandboxes are removed, it takes new tasks")
    daemon.spawn()
    daemon.wait_ready()


def hold(hosts: ClusterHosts) -> None:
    say("\neverything stays up; from another shell (root):")
    for name in hosts.names:
        say(f"  {name}: DOCKER_HOST={hosts[name].host} docker service ps {SERVICE}")
    say("Ctrl-C tears it down")
    while True:
        signal.pause()


def run(hosts: ClusterHosts, args: argparse.Namespace) -> None:
    say(hosts.underlay.diagram())
    form_swarm(hosts, manager_count(len(hosts.names)), docker_step)
    create_service(hosts, args.replicas)
    netns, vip = names_and_vip(hosts, args.replicas)
    show_spread(f"{hosts.names[-1]}/client", f"{vip}:80", spread(netns, vip, 80, 200))
    router = f"/run/netns/{hosts.underlay.router}"
    target = hosts.ip(hosts.names[-1])
    say(f"\n# the routing mesh: from {hosts.underlay.router}, outside the swarm, to {hosts.names[-1]}'s "
        f"address, port 8080")
    show_spread(hosts.underlay.router, f"{target}:8080", spread(router, target, 8080, 200))
    if not args.no_kill and len(hosts.names) >= 3:
        kill_and_replace(hosts, netns, vip, args.replicas)
    if args.keep:
        hold(hosts)


def main(argv: list[str] | None = None) -> int:
    parser = lab_parser(__doc__, "keep everything up at the end, until Ctrl-C")
    parser.add_argument("--replicas", type=int, default=4, help="tasks of the service (default 4)")
    parser.add_argument("--no-kill", action="store_true", help="stop before killing a host")
    return run_lab(parser, argv, PREFIX, run, "tasks, sandboxes, daemons, their children, namespaces")


if __name__ == "__main__":
    sys.exit(main())
