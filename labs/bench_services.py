#!/usr/bin/env python3
"""Connections per second through a service's VIP against straight to one of its tasks, same run.

Three cnmd hosts behind a router (as labs/services.py), a service of N tasks
on an overlay (each runs labkit/taskserver.py), a client sandbox on the last
node.  Each sample makes C connections one after the other (connect, read
the task's first line, close) to the VIP, then C to one task's own address,
alternating; the ratio is VIP / direct (1.0: the balancing costs nothing).
The routing mesh's rate (from the router, outside the swarm, to a node's
published port) is printed beside them; it has no same-run peer here.

Usage (root): labs/bench_services.py [--replicas 4] [--connections 300] [--samples 5]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from libnetwork.labkit import overlay as ov
from libnetwork.labkit import taskclient, taskserver
from libnetwork.labkit.swarm import form_swarm, quiet_docker
from libnetwork.testing import ClusterHosts, cluster_hosts, run_in

NETWORK, SERVICE = "bench-net", "bench"


def rate(netns: str, host: str, port: int, count: int) -> float:
    started = time.monotonic()
    result = json.loads(run_in(netns, sys.executable, taskclient.__file__, "spread", host, str(port), str(count),
                               timeout=300).stdout)
    took = time.monotonic() - started
    if result["errors"]:
        raise RuntimeError(f"{result['errors']} of {count} connections to {host}:{port} failed")
    return count / took


def setup(hosts: ClusterHosts, replicas: int) -> tuple[str, str, str]:
    node1, last = hosts["node1"], hosts[hosts.names[-1]]
    form_swarm(hosts, 1, quiet_docker)
    quiet_docker("node1", node1, "network", "create", "-d", "overlay", "--attachable", NETWORK)
    quiet_docker("node1", node1, "service", "create", "--detach", "--name", SERVICE, "--replicas", str(replicas),
                 "--network", NETWORK, "-p", "8080:80", "busybox", sys.executable, taskserver.__file__, "80")
    last.cnm("sandbox", "create", "--name", "client", "--network", NETWORK)
    netns = last.sandbox_netns("client")
    ov.wait_for(lambda: len(ov.resolve(netns, f"tasks.{SERVICE}") or []) == replicas, timeout=60, interval=0.3)
    vip = (ov.resolve(netns, SERVICE) or [""])[0]
    task = sorted(ov.resolve(netns, f"tasks.{SERVICE}") or [])[0]
    ov.wait_for(lambda: rate_ok(netns, vip), timeout=60, interval=0.3)
    return netns, vip, task


def rate_ok(netns: str, vip: str) -> bool:
    try:
        rate(netns, vip, 80, 20)
        return True
    except RuntimeError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--connections", type=int, default=300)
    parser.add_argument("--samples", type=int, default=5)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("needs root (it creates network namespaces)", file=sys.stderr)
        return 1
    with cluster_hosts(3, prefix="svbench-") as hosts:
        netns, vip, task = setup(hosts, args.replicas)
        through_vip, direct, mesh = [], [], []
        router, node = f"/run/netns/{hosts.underlay.router}", hosts.ip(hosts.names[-1])
        for _ in range(args.samples):
            through_vip.append(rate(netns, vip, 80, args.connections))
            direct.append(rate(netns, task, 80, args.connections))
            mesh.append(rate(router, node, 8080, args.connections))
        vip_p50, direct_p50 = statistics.median(through_vip), statistics.median(direct)
        print(f"service of {args.replicas} tasks, {args.connections} sequential connections a sample, "
              f"{args.samples} samples (median):")
        print(f"  client sandbox -> VIP {vip}:80              {vip_p50:8.0f} conn/s")
        print(f"  client sandbox -> one task {task}:80        {direct_p50:8.0f} conn/s")
        print(f"  ratio VIP / direct                          {vip_p50 / direct_p50:8.2f}x")
        print(f"  router -> {node}:8080 (routing mesh)  {statistics.median(mesh):8.0f} conn/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
