#!/usr/bin/env python3
"""How fast a cnmd swarm sees a node come and go, as the user sees it.

For each cluster size (--hosts 3,10): the routed underlay with one cnmd per
host, ``docker swarm init`` on node1, then for every other host, one at a
time, the time from starting ``docker swarm join`` (the real CLI) to the
node being ``ready`` in node1's ``GET /nodes`` (polled every 20 ms), and to
the CLI returning.  Then --kills samples of: kill -9 of a worker's cnmd ->
``down`` on node1, and its restart -> ``ready`` again.

Roles: one manager below 5 hosts (so 3 hosts have 2 workers, the shape
Docker's figures were captured with), three from 5 up (etcd quorum); the
kills always hit workers.  --managers overrides.

No peer runs in the same run: dockerd's own figures, captured on the same
underlay by labs/swarm_capture.py, are in docs/reference/swarm-api.md
("Timings and heartbeats") and printed beside ours.

Usage (root; the docker CLI on PATH):
    labs/bench_cluster.py [--hosts 3,10] [--kills 3] [--managers N]
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import FrameType

from libnetwork.labkit.swarm import CLUSTER_PORT, find_node, list_nodes, roles, wait_node_state
from libnetwork.labkit.underlay import MAX_HOSTS
from libnetwork.testing import ClusterHosts, cluster_hosts

# dockerd 20.10 on this underlay, docs/reference/swarm-api.md "Timings and heartbeats".
DOCKERD = {
    "join -> Ready": "0 s (Ready in the first GET /nodes after the CLI returns)",
    "join CLI returns": "-",
    "kill -9 -> Down": "10.7-14.9 s (8 kills)",
    "restart -> Ready": "0.16-0.31 s",
}
TIMEOUT = 120


@dataclass
class Samples:
    hosts: int
    roles: list[str]
    seconds: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in DOCKERD})


def default_managers(n: int) -> int:
    return 3 if n >= 5 else 1


def run_docker(hosts: ClusterHosts, name: str, *argv: str) -> str:
    result = hosts[name].docker(*argv, check=False, timeout=TIMEOUT)
    if result.returncode:
        raise RuntimeError(f"[{name}] docker {' '.join(argv[:2])}: {result.stderr.strip()}")
    return result.stdout.strip()


def measure_joins(hosts: ClusterHosts, plan: list[str], out: Samples) -> None:
    node1 = hosts["node1"]
    run_docker(hosts, "node1", "swarm", "init", "--advertise-addr", hosts.ip("node1"))
    tokens = {role: run_docker(hosts, "node1", "swarm", "join-token", "-q", role) for role in ("worker", "manager")}
    manager = f"{hosts.ip('node1')}:{CLUSTER_PORT}"
    for name, role in zip(hosts.names[1:], plan[1:], strict=True):
        argv = ["docker", "swarm", "join", "--token", tokens[role], "--advertise-addr", hosts.ip(name), manager]
        started = time.monotonic()
        cli = subprocess.Popen(argv, env=hosts[name].docker_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        try:
            ready, _ = wait_node_state(node1.socket, "ready", hostname=name, since=started, timeout=TIMEOUT)
            _, err = cli.communicate(timeout=TIMEOUT)
        finally:
            if cli.poll() is None:
                cli.kill()
                cli.wait()
        returned = time.monotonic() - started
        if cli.returncode:
            raise RuntimeError(f"[{name}] docker swarm join: {err.strip()}")
        out.seconds["join -> Ready"].append(ready)
        out.seconds["join CLI returns"].append(returned)
        print(f"  {name} ({role}): ready on node1 at {ready:.3f} s, CLI returned at {returned:.3f} s", flush=True)


def measure_kills(hosts: ClusterHosts, plan: list[str], kills: int, out: Samples) -> None:
    node1 = hosts["node1"]
    workers = [name for name, role in zip(hosts.names, plan, strict=True) if role == "worker"]
    if not workers:
        print("  no worker to kill (every host is a manager)")
        return
    for i in range(kills):
        victim = workers[-1 - i % len(workers)]
        daemon = hosts[victim]
        node = find_node(list_nodes(node1.socket), hostname=victim)
        if node is None:
            raise RuntimeError(f"node1 does not list {victim}")
        killed = time.monotonic()
        daemon.kill9()
        down, _ = wait_node_state(node1.socket, "down", node_id=node["ID"], since=killed, timeout=TIMEOUT)
        restarted = time.monotonic()
        daemon.spawn()
        ready, _ = wait_node_state(node1.socket, "ready", node_id=node["ID"], since=restarted, timeout=TIMEOUT)
        daemon.wait_ready()
        out.seconds["kill -9 -> Down"].append(down)
        out.seconds["restart -> Ready"].append(ready)
        print(f"  kill -9 {victim}: down at {down:.2f} s; restarted, ready at {ready:.2f} s", flush=True)


def bench(n: int, managers: int | None, kills: int, results: list[Samples]) -> None:
    """One cluster size; its samples go into results as they come, so a failure keeps the ones taken."""
    plan = roles(n, managers or default_managers(n))
    out = Samples(n, plan)
    results.append(out)
    print(f"\n{n} hosts: {plan.count('manager')} manager(s), {plan.count('worker')} worker(s)", flush=True)
    with cluster_hosts(n, wait=30 + 6 * n) as hosts:
        measure_joins(hosts, plan, out)
        measure_kills(hosts, plan, kills, out)


def table(results: list[Samples]) -> str:
    rows = [("hosts", "measure", "n", "p50 s", "max s", "dockerd (captured, swarm-api.md)")]
    for result in results:
        for measure, values in result.seconds.items():
            if values:
                rows.append((str(result.hosts), measure, str(len(values)), f"{statistics.median(values):.3f}",
                             f"{max(values):.3f}", DOCKERD[measure]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _stop(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--hosts", default="3,10", help="cluster sizes, comma separated (2..10; default 3,10)")
    parser.add_argument("--kills", type=int, default=3, help="kill -9 samples per size (default 3)")
    parser.add_argument("--managers", type=int, default=None, help="managers per cluster (default: 1, 3 from 5 hosts)")
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.hosts.split(",") if x.strip()]
    if any(not 2 <= n <= MAX_HOSTS for n in sizes):
        parser.error(f"--hosts: each size must be 2..{MAX_HOSTS}")
    if os.geteuid() != 0:
        print("needs root (it creates network namespaces)", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _stop)
    results: list[Samples] = []
    try:
        for n in sizes:
            bench(n, args.managers, args.kills, results)
    except KeyboardInterrupt:
        print("interrupted; everything removed")
        return 130
    except (RuntimeError, TimeoutError) as error:
        print(f"failed: {error}; everything removed; the samples taken so far:")
    print()
    print(table(results))
    print("\ndockerd: join -> Ready 0 s, kill -> Down 10.7-14.9 s (heartbeat 5 s +-0.5, TTL x3), captured by "
          "labs/swarm_capture.py on the same underlay: docs/reference/swarm-api.md \"Timings and heartbeats\"; "
          "not run here.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
