#!/usr/bin/env python3
"""A swarm of cnmd hosts, formed and broken with the real docker CLI.

Builds the routed underlay (N host namespaces on two segments and a router,
libnetwork.labkit.underlay), starts one cnmd per host with the host's name as
its hostname, then, with DOCKER_HOST pointing at each host's socket:

    node1: docker swarm init --advertise-addr <node1>
    node1: docker swarm join-token -q worker / manager
    node2, node3: docker swarm join as managers (etcd gets 3 members), the rest as workers
           (with 2 hosts node2 joins as a worker: 2 managers lose quorum with either)
    node1: docker node ls
    kill -9 the last host's cnmd (a worker from 4 hosts up, a manager at 3: quorum
           survives), time until node1 says Down, docker node ls
    restart it, time until node1 says Ready, docker node ls

Each step prints its command and its output. Everything (daemons, their
Serf and etcd children, namespaces) is removed at the end, also on an error
or Ctrl-C; --keep holds the cluster up for you until Ctrl-C.

Usage (root; the docker CLI on PATH):
    labs/cluster.py [-n 3] [--keep]
"""
from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time

from libnetwork.labkit.hostlab import lab_parser, run_lab
from libnetwork.labkit.narrate import BOLD, PLAIN, docker_step, say
from libnetwork.labkit.swarm import (
    find_node,
    list_nodes,
    manager_count,
    wait_node_reachability,
    wait_node_state,
)
from libnetwork.labkit.swarm import form_swarm as labkit_form_swarm
from libnetwork.testing import ClusterHosts

PREFIX = "clab-"
step = docker_step


def form_swarm(hosts: ClusterHosts) -> list[str]:
    """init on node1, the others join by role, then node ls; the roles, node1 first."""
    plan = labkit_form_swarm(hosts, manager_count(len(hosts.names)), step)
    step("node1", hosts["node1"], "node", "ls")
    return plan


def break_and_heal(hosts: ClusterHosts, plan: list[str]) -> None:
    """kill -9 the last host's cnmd, time Down on node1; restart it, time Ready."""
    victim, role = hosts.names[-1], plan[-1]
    daemon, manager = hosts[victim], hosts["node1"]
    node = find_node(list_nodes(manager.socket), hostname=victim)
    if node is None:
        raise RuntimeError(f"node1 does not list {victim}")
    say(f"\n{BOLD}[host] $ kill -9 {daemon.pid}{PLAIN}   # {victim}'s cnmd, a {role}; "
        "polling node1's GET /nodes every 20 ms")
    killed = time.monotonic()
    daemon.kill9()
    if role == "manager":
        lost, _ = wait_node_reachability(manager.socket, "unreachable", node_id=node["ID"], since=killed, timeout=120)
        say(f"{victim} Unreachable (manager status) on node1 {lost:.2f} s after the kill; dockerd: 0.1-0.4 s")
    down, seen = wait_node_state(manager.socket, "down", node_id=node["ID"], since=killed, timeout=120)
    message = seen.get("Status", {}).get("Message", "")
    say(f"{victim} Down on node1 {down:.2f} s after the kill ({message or 'no message'}); "
        f"dockerd: {'11.0-12.3 s for a manager' if role == 'manager' else '10.7-14.9 s'} "
        "(docs/reference/swarm-api.md)")
    step("node1", manager, "node", "ls")

    say(f"\n{BOLD}[{victim}] $ cnmd ...{PLAIN}   # the same data root, so the same node")
    restarted = time.monotonic()
    daemon.spawn()
    ready, _ = wait_node_state(manager.socket, "ready", node_id=node["ID"], since=restarted, timeout=120)
    daemon.wait_ready()
    say(f"{victim} Ready on node1 {ready:.2f} s after the restart; dockerd: 0.16-0.31 s")
    step("node1", manager, "node", "ls")


def hold(hosts: ClusterHosts) -> None:
    say("\nthe cluster stays up; from another shell (root):")
    for name in hosts.names:
        say(f"  {name}: DOCKER_HOST={hosts[name].host} docker node ls    "
            f"# ip netns exec {hosts[name].name} ...")
    say("Ctrl-C tears it down")
    while True:
        signal.pause()


def show_logs(hosts: ClusterHosts, lines: int = 8) -> None:
    """The end of each cnmd's log (info and up), before teardown deletes it."""
    for name in hosts.names:
        tail = [line for line in hosts[name].log().splitlines() if "level=debug" not in line][-lines:]
        say(f"\n--- {name}: last {len(tail)} lines of cnmd's log")
        say("\n".join(tail))


def run(hosts: ClusterHosts, args: argparse.Namespace) -> None:
    say(hosts.underlay.diagram())
    for name in hosts.names:
        daemon = hosts[name]
        say(f"  {name}: cnmd pid {daemon.pid}, hostname {name}, DOCKER_HOST={daemon.host}")
    try:
        plan = form_swarm(hosts)
        break_and_heal(hosts, plan)
        if args.keep:
            hold(hosts)
    except (RuntimeError, TimeoutError, subprocess.TimeoutExpired):
        show_logs(hosts)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = lab_parser(__doc__, "keep the cluster up at the end, until Ctrl-C")
    return run_lab(parser, argv, PREFIX, run, "daemons, their children, namespaces")


if __name__ == "__main__":
    sys.exit(main())
