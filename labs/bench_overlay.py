#!/usr/bin/env python3
"""How fast cnmd's overlay carries traffic and follows sandboxes and hosts coming and going.

For each cluster size (--hosts 3,10): the routed underlay with one cnmd per
host, a swarm formed with the docker CLI, ``docker network create -d overlay
--attachable ov1`` on node1 and a sandbox ``probe`` on node1 (segment A).

- throughput (first size only): iperf3 TCP from ``probe`` to a sandbox on the
  last host (segment B), through cnmd's overlay; and, in the same run,
  between two sandboxes joined by a VXLAN built by hand with ip(8) between
  the same two hosts (libnetwork.labkit.vxlan: the same layout, bridge +
  VXLAN device whose socket is in the host's namespace, MTU 1450).  Both go
  through the same router.  The runs alternate (overlay, hand-built,
  hand-built, overlay, ...), so a neighbour's load hits both; the medians and
  their ratio are printed.
- connect -> ping: ``cnm sandbox create --name cK --network ov1`` on another
  host (each in turn), from the command returning to node1's vxlan0 having
  the new sandbox's FDB entry (read every 5 ms), and to the first answered
  ping from ``probe`` (one every 10 ms).  The sandbox is removed after each
  sample, so every sample is that host's first sandbox on the network.
- kill -> gone: kill -9 of the last host's cnmd (it has a sandbox on ov1) to
  that sandbox's name no longer answering in ``probe`` (asked every 50 ms) and
  its FDB entry gone from node1's vxlan0 (read every 50 ms); then restart ->
  the name back.

Usage (root; docker CLI, serf, etcd, iperf3 on PATH):
    labs/bench_overlay.py [--hosts 3,10] [--runs 3] [--seconds 5] [--samples 6] [--kills 3]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time

from libnetwork.labkit import overlay as ov
from libnetwork.labkit.interrupts import Interrupts
from libnetwork.labkit.measure import (
    Row,
    format_table,
    have_iperf3,
    median,
    run_iperf_client,
    start_iperf_server,
)
from libnetwork.labkit.swarm import form_swarm, manager_count
from libnetwork.labkit.underlay import MAX_HOSTS
from libnetwork.labkit.vxlan import HandVxlan
from libnetwork.testing import ClusterHosts, cluster_hosts

NETWORK = "ov1"
TIMEOUT = 60.0


def say(text: str) -> None:
    print(text, flush=True)


def vxlan_details(netns: str, device: str) -> str:
    """The VXLAN line of ``ip -d link show``: what the two devices differ in, if anything."""
    out = ov.run_in(netns, "ip", "-d", "link", "show", device).stdout
    return next((line.strip() for line in out.splitlines() if line.strip().startswith("vxlan ")), "?")


def throughput(hosts: ClusterHosts, nid: str, probe: ov.Sandbox, runs: int, seconds: int) -> list[Row]:
    last = hosts.names[-1]
    target = ov.create_sandbox(hosts[last], last, "tput", NETWORK)
    ov.wait_for(lambda: ov.pings(probe.netns, target.ip, 0.2), timeout=TIMEOUT)
    hand = HandVxlan(hosts.underlay, ("node1", last)).up()
    servers: list[subprocess.Popen[str]] = []
    try:
        a, b = hand.ends
        ov.wait_for(lambda: ov.pings(a.netns, b.ip, 0.2), timeout=10)
        say(f"  cnmd overlay: {probe.name}@node1 {probe.ip} -> {target.name}@{last} {target.ip}; "
            f"node1 {vxlan_details(ov.overlay_netns(hosts['node1'], nid), 'vxlan0')}")
        say(f"  hand-built:   {a.sandbox_ns} {a.ip} -> {b.sandbox_ns} {b.ip}; "
            f"node1 {vxlan_details(os.path.join('/run/netns', a.bridge_ns), 'vx0')}")
        servers = [start_iperf_server(target.netns), start_iperf_server(b.netns)]
        overlay: list[float] = []
        manual: list[float] = []
        for run in range(1, runs + 1):
            # each goes first every other run, so a neighbour's load or a warm cache favours neither
            for first in ((True, False) if run % 2 else (False, True)):
                if first:
                    overlay.append(run_iperf_client(probe.netns, target.ip, seconds))
                else:
                    manual.append(run_iperf_client(a.netns, b.ip, seconds))
            say(f"  run {run}: overlay {overlay[-1] / 1e9:.2f} Gbit/s, hand-built {manual[-1] / 1e9:.2f} Gbit/s")
        ratio = median(overlay) / median(manual)
        say(f"  median: overlay {median(overlay) / 1e9:.2f} Gbit/s, hand-built {median(manual) / 1e9:.2f} Gbit/s, "
            f"ratio {ratio:.3f}x")
        n = len(hosts.names)
        return [Row(f"iperf3 TCP {seconds:g} s, cnmd overlay", n, overlay, "Gbit/s",
                    f"{ratio:.3f}x the hand-built VXLAN"),
                Row(f"iperf3 TCP {seconds:g} s, hand-built VXLAN", n, manual, "Gbit/s", "(the peer)")]
    finally:
        for server in servers:
            server.kill()
            server.wait()
        hand.down()
        ov.remove_sandbox(hosts[last], "tput")


def connect_to_ping(hosts: ClusterHosts, nid: str, probe: ov.Sandbox, samples: int) -> list[Row]:
    """Per sample: create a sandbox on another host (each in turn), measure, remove it."""
    others, fdb_ns = hosts.names[1:], ov.overlay_netns(hosts["node1"], nid)
    programmed, pinged = [], []
    for k in range(samples):
        node = others[k % len(others)]
        fdb, ping = connect_once(hosts, node, f"c{k}", probe, fdb_ns)
        programmed.append(fdb)
        pinged.append(ping)
    n = len(hosts.names)
    return [Row("connect -> node1's FDB entry", n, programmed, "ms"),
            Row("connect -> first ping", n, pinged, "ms")]


def connect_once(hosts: ClusterHosts, node: str, name: str, probe: ov.Sandbox, fdb_ns: str) -> tuple[float, float]:
    """From ``cnm sandbox create`` returning: (until node1's vxlan0 has the sandbox's FDB entry, cnmd's
    part; until probe's first answered ping, what a user sees: ``ping -c1 -w60 -i0.01``, one every 10 ms,
    its end stamped by a thread).  The sandbox is removed, and the removal awaited on node1, after."""
    daemon = hosts[node]
    result = daemon.cnm("sandbox", "create", "--name", name, "--network", NETWORK, check=False)
    returned = time.monotonic()
    if result.returncode != 0:
        raise RuntimeError(f"[{node}] cnm sandbox create {name}: {result.stderr.strip()}")
    sbox = ov.inspect_sandbox(daemon, node, name, NETWORK)
    ping = subprocess.Popen(["nsenter", f"--net={probe.netns}", "ping", "-q", "-c1", f"-w{TIMEOUT:g}", "-i0.01",
                             sbox.ip], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ended: list[float] = []

    def wait_ping() -> None:
        ping.wait()
        ended.append(time.monotonic())

    stamp = threading.Thread(target=wait_ping)
    stamp.start()
    try:
        programmed = ov.wait_for(lambda: sbox.mac in ov.vxlan_fdb(fdb_ns), timeout=TIMEOUT, interval=0.005,
                                 since=returned)
        stamp.join(TIMEOUT + 5)
    finally:
        if ping.poll() is None:
            ping.kill()
    if ping.returncode != 0 or not ended:
        raise TimeoutError(f"{name} on {node} never answered {probe.name}")
    pinged = ended[0] - returned
    say(f"  {name} on {node} ({sbox.ip}), from the command returning: node1's FDB entry "
        f"{programmed * 1000:.0f} ms, first ping {pinged * 1000:.0f} ms")
    ov.remove_sandbox(daemon, name)
    ov.wait_for(lambda: sbox.mac not in ov.vxlan_fdb(fdb_ns), timeout=TIMEOUT)
    return programmed, pinged


def kill_to_gone(hosts: ClusterHosts, nid: str, probe: ov.Sandbox, kills: int) -> list[Row]:
    last = hosts.names[-1]
    daemon, fdb_ns = hosts[last], ov.overlay_netns(hosts["node1"], nid)
    victim = ov.create_sandbox(daemon, last, "victim", NETWORK)
    dns, fdb, back = [], [], []
    for k in range(1, kills + 1):
        ov.wait_for(lambda: ov.pings(probe.netns, victim.ip, 0.2), timeout=TIMEOUT)
        with ov.dns_watch(probe.netns, victim.name, victim.ip, present=False, timeout=TIMEOUT) as watch:
            killed = time.monotonic()
            daemon.kill9()
            fdb.append(ov.wait_for(lambda: victim.mac not in ov.vxlan_fdb(fdb_ns), timeout=TIMEOUT, since=killed))
            dns.append(ov.finish_dns_watch(watch) - killed)
        with ov.dns_watch(probe.netns, victim.name, victim.ip, present=True, timeout=TIMEOUT) as watch:
            restarted = time.monotonic()
            daemon.spawn()
            back.append(ov.finish_dns_watch(watch, timeout=TIMEOUT + 10) - restarted)
        daemon.wait_ready()
        say(f"  kill {k} of {last}'s cnmd: name gone {dns[-1]:.2f} s, FDB entry gone {fdb[-1]:.2f} s; "
            f"restart -> name back {back[-1]:.2f} s")
    n = len(hosts.names)
    return [Row("kill -9 -> name gone (DNS)", n, dns, "s"), Row("kill -9 -> FDB entry gone", n, fdb, "s"),
            Row("restart -> name back (DNS)", n, back, "s")]


def bench(n: int, args: argparse.Namespace, rows: list[Row], first: bool) -> None:
    say(f"\n== {n} hosts: underlay, one cnmd each, swarm ({manager_count(n)} managers), {NETWORK}")
    with cluster_hosts(n, prefix=f"bov{n}-") as hosts:
        form_swarm(hosts, manager_count(n))
        nid = ov.create_network(hosts["node1"], NETWORK)
        probe = ov.create_sandbox(hosts["node1"], "node1", "probe", NETWORK)
        if first and args.runs:
            say(f"throughput, node1 (segment A) -> {hosts.names[-1]} (segment B), {args.runs} x {args.seconds:g} s "
                "each, alternating")
            rows += throughput(hosts, nid, probe, args.runs, args.seconds)
        if args.samples:
            say(f"connect -> ping from probe@node1, {args.samples} samples")
            rows += connect_to_ping(hosts, nid, probe, args.samples)
        if args.kills:
            say(f"kill -9 -> gone from node1, {args.kills} samples")
            rows += kill_to_gone(hosts, nid, probe, args.kills)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--hosts", default="3,10", help="cluster sizes, comma-separated (2..10; default 3,10)")
    parser.add_argument("--runs", type=int, default=3, help="iperf3 runs per path (0: no throughput)")
    parser.add_argument("--seconds", type=int, default=5, help="length of one iperf3 run (whole seconds, 1 up: "
                        "iperf3 takes -t 0.5 as 0, which runs forever)")
    parser.add_argument("--samples", type=int, default=6, help="connect -> ping samples per size")
    parser.add_argument("--kills", type=int, default=3, help="kill -9 samples per size")
    args = parser.parse_args(argv)
    try:
        sizes = [int(part) for part in args.hosts.split(",")]
    except ValueError:
        parser.error("--hosts takes numbers, e.g. 3,10")
    if any(not 2 <= n <= MAX_HOSTS for n in sizes):
        parser.error(f"--hosts: each size 2..{MAX_HOSTS}")
    if args.seconds < 1:
        parser.error("--seconds: 1 or more")
    if os.geteuid() != 0:
        print("needs root (it creates network namespaces)", file=sys.stderr)
        return 1
    if args.runs and not have_iperf3():
        print("needs iperf3 (apt-get install -y iperf3), or --runs 0", file=sys.stderr)
        return 1
    interrupts = Interrupts()
    rows: list[Row] = []
    try:
        for index, n in enumerate(sizes):
            bench(n, args, rows, first=index == 0)
    except KeyboardInterrupt:
        say("interrupted; everything removed")
        return 130
    except (RuntimeError, TimeoutError, subprocess.TimeoutExpired) as error:
        say(f"failed: {error}; everything removed")
        return 1
    finally:
        interrupts.stopping = True
    say("\n" + format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
