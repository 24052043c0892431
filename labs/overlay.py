#!/usr/bin/env python3
"""An overlay network across a swarm of cnmd hosts behind a router, end to end.

Builds the routed underlay (N host namespaces on two segments and a router,
libnetwork.labkit.underlay), starts one cnmd per host and forms a swarm with
the real docker CLI (as labs/cluster.py), then:

    node1: docker network create -d overlay --attachable ov1
    every host: cnm sandbox create --name sK --network ov1    (sK on nodeK)
    the sandboxes' addresses, and the topology: one L2 segment over VXLAN
    s1 (segment A) -> sN (segment B): ping, across the router
    a TCP conversation: a one-line python server in sN, a client in s1
    s1 resolves sN by name through the embedded DNS (127.0.0.11)
    node1's vxlan0 table: each remote sandbox's MAC -> its host's address
    kill -9 nodeN's cnmd: timed until sN is gone from node1 (the name no
      longer answers, its FDB entry gone), and a ping from s1 fails
    restart it: timed until the name answers again and the ping works

Each step prints its command and output. Everything (daemons, their Serf
and etcd children, sandboxes, namespaces) is removed at the end, also on an
error or Ctrl-C; --keep holds it all up for you until Ctrl-C. --no-kill
stops before the kill (a quick look).

Usage (root; the docker CLI, serf and etcd on PATH):
    labs/overlay.py [-n 3] [--keep] [--no-kill]
"""
from __future__ import annotations

import argparse
import signal
import sys
import time

from libnetwork.labkit import overlay as ov
from libnetwork.labkit.hostlab import lab_parser, run_lab
from libnetwork.labkit.narrate import BOLD, PLAIN, docker_step, say, show_run
from libnetwork.labkit.swarm import form_swarm, manager_count
from libnetwork.testing import ClusterHosts

PREFIX = "olab-"
NETWORK = "ov1"
CONVERGE = 60.0


def sandbox_cmd(sbox: ov.Sandbox, *argv: str) -> list[str]:
    return ["nsenter", f"--net={sbox.netns}", *argv]


def create_everything(hosts: ClusterHosts) -> tuple[str, str, list[ov.Sandbox]]:
    """The network and one sandbox per host: (network ID, "subnet ..., VNI ...", the sandboxes)."""
    node1 = hosts["node1"]
    nid = docker_step("node1", node1, "network", "create", "-d", "overlay", "--attachable", NETWORK)
    subnet_vni = docker_step("node1", node1, "network", "inspect", "-f",
                             "subnet {{range .IPAM.Config}}{{.Subnet}}{{end}}, VNI "
                             '{{index .Options "com.docker.network.driver.overlay.vxlanid_list"}}', NETWORK)
    sandboxes = []
    for index, name in enumerate(hosts.names, start=1):
        daemon = hosts[name]
        argv = ["cnm", "-H", daemon.host, "sandbox", "create", "--name", f"s{index}", "--network", NETWORK]
        result = show_run(name, argv, f"cnm sandbox create --name s{index} --network {NETWORK}")
        if result.returncode != 0:
            raise RuntimeError(f"cnm sandbox create on {name} failed")
        sandboxes.append(ov.inspect_sandbox(daemon, name, f"s{index}", NETWORK))
    return nid, subnet_vni, sandboxes


def draw(hosts: ClusterHosts, sandboxes: list[ov.Sandbox], subnet_vni: str) -> str:
    rows = []
    for sbox in sandboxes:
        host = hosts.underlay.host(sbox.node)
        rows.append(f"   {sbox.name:<4} {sbox.ip:<11} {sbox.mac}  on {sbox.node:<6} "
                    f"(segment {host.segment}, VTEP {host.addr:<13})  ==+")
    joint = len(rows[0]) - 1
    return "\n".join([f"overlay {NETWORK} ({subnet_vni}): one L2 segment, carried in VXLAN (UDP 4789) between "
                      "the hosts' underlay addresses", *rows,
                      " " * joint + "+== br0 + vxlan0 in <exec-root>/overlay/<id> on each host"])


def traffic(hosts: ClusterHosts, sandboxes: list[ov.Sandbox]) -> None:
    first, last = sandboxes[0], sandboxes[-1]
    say(f"\n# {first.name} on {first.node} (segment A) -> {last.name} on {last.node} (segment B), through "
        f"{hosts.underlay.router}")
    if show_run(f"{first.node}/{first.name}", sandbox_cmd(first, "ping", "-c3", "-i0.2", last.ip),
                f"ping -c3 -i0.2 {last.ip}").returncode != 0:
        raise RuntimeError(f"{first.name} cannot ping {last.name}")
    for src in sandboxes:
        ok = [dst.name for dst in sandboxes if dst is not src and ov.pings(src.netns, dst.ip)]
        say(f"  {src.name} pings {', '.join(ok) or 'nobody'}")
        if len(ok) != len(sandboxes) - 1:
            raise RuntimeError(f"{src.name} does not reach every other sandbox")
    say(f"\n# TCP: a one-connection python server in {last.name} on port 8080, a client in {first.name}")
    shown, received = ov.tcp_exchange(last, first)
    say(f"{BOLD}[{first.node}/{first.name}] $ {shown}{PLAIN}\n{received}")
    if not received.startswith(f"hello {first.ip}"):
        raise RuntimeError("the TCP conversation failed")


def names(hosts: ClusterHosts, first: ov.Sandbox, last: ov.Sandbox) -> None:
    say(f"\n# names: {first.name} asks the embedded DNS (127.0.0.11) for {last.name}, a sandbox of {last.node}")
    took = ov.wait_for(lambda: last.ip in (ov.resolve(first.netns, last.name) or []), timeout=CONVERGE)
    if took > 0.5:
        say(f"  ({last.name} answered after {took:.1f} s of asking)")
    daemon = hosts[first.node]
    result = show_run(f"{first.node}", ["cnm", "-H", daemon.host, "exec", first.name, "getent", "hosts", last.name],
                      f"cnm exec {first.name} getent hosts {last.name}    # with the sandbox's /etc/resolv.conf")
    if last.ip not in result.stdout:
        raise RuntimeError(f"{first.name} does not resolve {last.name}")
    show_dns(first, last.name)


def show_dns(asker: ov.Sandbox, name: str) -> list[str] | None:
    answers = ov.resolve(asker.netns, name)
    say(f"{BOLD}[{asker.node}/{asker.name}] $ query A {name} @127.0.0.11{PLAIN}   # dnslib, 1 s timeout\n  "
        + (", ".join(answers) if answers else ("no answer" if answers is None else "NXDOMAIN / empty")))
    return answers


def show_fdb(hosts: ClusterHosts, nid: str, node: str) -> None:
    netns = ov.overlay_netns(hosts[node], nid)
    show_run(node, ["nsenter", f"--net={netns}", "bridge", "fdb", "show", "dev", "vxlan0"],
             f"nsenter --net=<exec-root>/overlay/{nid[:12]} bridge fdb show dev vxlan0")
    node_at = {host.addr: host.name for host in hosts.underlay.hosts}
    for mac, dst in ov.vxlan_fdb(netns).items():
        say(f"  {mac} -> VTEP {dst} ({node_at.get(dst, '?')})")


def kill_and_back(hosts: ClusterHosts, nid: str, sandboxes: list[ov.Sandbox]) -> None:
    first, victim = sandboxes[0], sandboxes[-1]
    daemon, netns = hosts[victim.node], ov.overlay_netns(hosts[first.node], nid)
    with ov.dns_watch(first.netns, victim.name, victim.ip, present=False, timeout=CONVERGE) as watch:
        say(f"\n{BOLD}[host] $ kill -9 {daemon.pid}{PLAIN}   # {victim.node}'s cnmd; {first.name} asks for "
            f"{victim.name} every 50 ms, node1's vxlan0 FDB is read every 50 ms")
        killed = time.monotonic()
        daemon.kill9()
        fdb_gone = ov.wait_for(lambda: victim.mac not in ov.vxlan_fdb(netns), timeout=CONVERGE, since=killed)
        dns_gone = ov.finish_dns_watch(watch) - killed
    say(f"{victim.name} gone from node1: name {dns_gone:.2f} s, FDB entry {fdb_gone:.2f} s after the kill "
        "(Serf's failure detection, then the endpoint table)")
    show_dns(first, victim.name)
    if show_run(f"{first.node}/{first.name}", sandbox_cmd(first, "ping", "-c1", "-W1", victim.ip),
                f"ping -c1 -W1 {victim.ip}    # must fail now").returncode == 0:
        raise RuntimeError(f"{victim.name} still answers pings after its host's cnmd was killed")
    show_fdb(hosts, nid, first.node)

    say(f"\n{BOLD}[{victim.node}] $ cnmd ...{PLAIN}   # the same data root: the same node, its sandboxes replayed")
    with ov.dns_watch(first.netns, victim.name, victim.ip, present=True, timeout=CONVERGE) as watch:
        restarted = time.monotonic()
        daemon.spawn()
        dns_back = ov.finish_dns_watch(watch, timeout=CONVERGE + 10) - restarted
    ping_back = ov.wait_for(lambda: ov.pings(first.netns, victim.ip, 0.2), timeout=CONVERGE, since=restarted)
    daemon.wait_ready()
    say(f"{victim.name} back on node1: name {dns_back:.2f} s, ping {ping_back:.2f} s after the restart")
    show_dns(first, victim.name)
    if show_run(f"{first.node}/{first.name}", sandbox_cmd(first, "ping", "-c1", "-W1", victim.ip),
                f"ping -c1 -W1 {victim.ip}").returncode != 0:
        raise RuntimeError(f"{victim.name} does not answer after the restart")
    show_fdb(hosts, nid, first.node)


def hold(hosts: ClusterHosts, sandboxes: list[ov.Sandbox]) -> None:
    say("\neverything stays up; from another shell (root):")
    for sbox in sandboxes:
        say(f"  {sbox.name}: DOCKER_HOST={hosts[sbox.node].host} cnm exec {sbox.name} sh")
    say("Ctrl-C tears it down")
    while True:
        signal.pause()


def run(hosts: ClusterHosts, args: argparse.Namespace) -> None:
    say(hosts.underlay.diagram())
    for name in hosts.names:
        say(f"  {name}: cnmd pid {hosts[name].pid}, DOCKER_HOST={hosts[name].host}")
    form_swarm(hosts, manager_count(len(hosts.names)), docker_step)
    docker_step("node1", hosts["node1"], "node", "ls")
    nid, subnet_vni, sandboxes = create_everything(hosts)
    say("\n" + draw(hosts, sandboxes, subnet_vni))
    traffic(hosts, sandboxes)
    names(hosts, sandboxes[0], sandboxes[-1])
    show_fdb(hosts, nid, "node1")
    if not args.no_kill:
        kill_and_back(hosts, nid, sandboxes)
    if args.keep:
        hold(hosts, sandboxes)


def main(argv: list[str] | None = None) -> int:
    parser = lab_parser(__doc__, "keep everything up at the end, until Ctrl-C")
    parser.add_argument("--no-kill", action="store_true", help="stop before killing a host")
    return run_lab(parser, argv, PREFIX, run, "sandboxes, daemons, their children, namespaces")


if __name__ == "__main__":
    sys.exit(main())
