"""Embedded DNS with real queries from inside sandboxes.

One daemon for the module, in a throwaway host namespace, with two
upstream servers: ``192.0.2.53`` in an upstream namespace behind a veth
(the outside world), and ``127.0.0.1`` in the daemon's host namespace (a
host-loopback server, as systemd-resolved would be).  The daemon reads a
resolv.conf naming both (``--resolv-conf``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

from libnetwork.testing import add_netns, delete_netns, new_daemon, run_in

HERE = os.path.dirname(os.path.abspath(__file__))
UPSTREAM = "192.0.2.53"
HOST_SIDE = "192.0.2.1"


def _wait_ready(process: subprocess.Popen) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    if "ready" not in line:
        raise RuntimeError(f"upstream server did not start: {line}{process.stdout.read()}")


@pytest.fixture(scope="module")
def world():
    workdir = tempfile.mkdtemp(prefix="cnm-dns-")
    resolv = os.path.join(workdir, "resolv.conf")
    with open(resolv, "w") as handle:
        handle.write(f"nameserver 127.0.0.1\nnameserver {UPSTREAM}\nsearch corp.example\noptions edns0\n")
    daemon = new_daemon("--resolv-conf", resolv)
    upstream_name = f"cnmu-{uuid.uuid4().hex[:8]}"
    servers = []
    try:
        upstream = add_netns(upstream_name)
        host = daemon.netns_path
        # The outside world: a veth from the fake host to the upstream namespace, routed.
        run_in(host, "ip", "link", "add", "up0", "type", "veth", "peer", "name", "up1", "netns", upstream)
        run_in(host, "ip", "addr", "add", f"{HOST_SIDE}/24", "dev", "up0")
        run_in(host, "ip", "link", "set", "up0", "up")
        run_in(host, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        run_in(upstream, "ip", "link", "set", "lo", "up")
        run_in(upstream, "ip", "addr", "add", f"{UPSTREAM}/24", "dev", "up1")
        run_in(upstream, "ip", "link", "set", "up1", "up")
        run_in(upstream, "ip", "route", "add", "default", "via", HOST_SIDE)
        logs = {"world": os.path.join(workdir, "world.log"), "loopback": os.path.join(workdir, "loopback.log")}
        for netns, address, mode in ((upstream, UPSTREAM, "world"), (host, "127.0.0.1", "loopback")):
            process = subprocess.Popen(
                ["nsenter", f"--net={netns}", sys.executable, os.path.join(HERE, "dns_upstream.py"), address,
                 logs[mode], mode], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            servers.append(process)
            _wait_ready(process)
        daemon.start()
        daemon.upstream_logs = logs
        daemon.resolv_conf = resolv
        yield daemon
    finally:
        for process in servers:
            process.kill()
            process.wait()
        daemon.cleanup()
        delete_netns(upstream_name)
        subprocess.run(["rm", "-rf", workdir], check=False)


def dns(daemon, sandbox: str, name: str, qtype: str = "A", transport: str = "udp", server: str = "127.0.0.11") -> dict:
    result = daemon.run_in_sandbox(sandbox, sys.executable, os.path.join(HERE, "dns_client.py"), "query", name, qtype,
                                   transport, server, timeout=60)
    return json.loads(result.stdout)


def addresses(daemon, sandbox: str, name: str, qtype: str = "A") -> list[str]:
    answer = dns(daemon, sandbox, name, qtype)
    assert answer.get("rcode") == "NOERROR", answer
    return sorted(answer["answers"])


def ip_of(daemon, sandbox: str, network: str) -> str:
    return daemon.inspect("sandbox", sandbox)["Networks"][network]["IPAddress"]


@pytest.fixture(scope="module")
def dev_prod(world):
    # No masquerade on dev: the upstream then sees which namespace a forwarded query left from.
    world.cnm("network", "create", "--subnet", "10.61.0.0/24", "-o",
              "com.docker.network.bridge.enable_ip_masquerade=false", "dev")
    world.cnm("network", "create", "--subnet", "10.62.0.0/24", "prod")
    world.cnm("sandbox", "create", "--name", "dev1", "--network", "dev", "--alias", "search", "--hostname", "dev1host")
    world.cnm("sandbox", "create", "--name", "dev2", "--network", "dev", "--alias", "search")
    world.cnm("sandbox", "create", "--name", "prod1", "--network", "prod", "--alias", "search")
    world.cnm("sandbox", "create", "--name", "devclient", "--network", "dev")
    world.cnm("sandbox", "create", "--name", "prodclient", "--network", "prod")
    return world


def test_resolv_conf_of_user_and_default_bridge_sandboxes(dev_prod, world):
    with open(world.inspect("sandbox", "devclient")["ResolvConfPath"]) as handle:
        text = handle.read()
    assert "nameserver 127.0.0.11\n" in text
    assert "search corp.example\n" in text
    assert "options edns0 ndots:0\n" in text
    assert f"# ExtServers: [host(127.0.0.1) {UPSTREAM}]" in text
    # what a process in the sandbox sees
    seen = world.cnm("exec", "devclient", "cat", "/etc/resolv.conf").stdout
    assert seen == text
    world.cnm("sandbox", "create", "--name", "legacy")
    with open(world.inspect("sandbox", "legacy")["ResolvConfPath"]) as handle:
        legacy = handle.read()
    # default bridge: no embedded DNS, host loopback servers dropped
    assert "127.0.0.11" not in legacy and "127.0.0.1\n" not in legacy
    assert f"nameserver {UPSTREAM}\n" in legacy
    assert dns(world, "legacy", "dev1", "A").get("error") == "timeout"  # nothing listens on 127.0.0.11 there
    world.cnm("sandbox", "rm", "-f", "legacy")


def test_names_aliases_and_round_robin_on_dev(dev_prod, world):
    dev1, dev2 = ip_of(world, "dev1", "dev"), ip_of(world, "dev2", "dev")
    assert addresses(world, "devclient", "dev1") == [dev1]
    assert addresses(world, "devclient", "DEV2") == [dev2]
    assert addresses(world, "devclient", "dev1host") == [dev1]
    short = world.inspect("sandbox", "dev1")["Id"][:12]
    assert addresses(world, "devclient", short) == [dev1]
    assert addresses(world, "devclient", "dev1.dev") == [dev1]
    answer = dns(world, "devclient", "dev1")
    assert answer["ttls"] == [600] and answer["id_ok"]
    orders = json.loads(world.run_in_sandbox(
        "devclient", sys.executable, os.path.join(HERE, "dns_client.py"), "many", "search", "40").stdout)
    assert all(sorted(order) == sorted([dev1, dev2]) for order in orders)
    assert len({tuple(order) for order in orders}) == 2, "the order of a shared alias must vary"


def test_same_alias_on_prod_is_isolated(dev_prod, world):
    assert addresses(world, "prodclient", "search") == [ip_of(world, "prod1", "prod")]
    assert dns(world, "prodclient", "dev1")["rcode"] == "NXDOMAIN"  # forwarded: the world does not know it
    assert dns(world, "devclient", "prod1")["rcode"] == "NXDOMAIN"
    assert dns(world, "devclient", "dev1.prod")["rcode"] == "NXDOMAIN"


def test_ptr_and_nodata(dev_prod, world):
    dev1 = ip_of(world, "dev1", "dev")
    reverse = ".".join(reversed(dev1.split("."))) + ".in-addr.arpa"
    answer = dns(world, "devclient", reverse, "PTR")
    assert answer["answers"] == ["dev1.dev."] and answer["types"] == ["PTR"]
    for qtype in ("AAAA", "MX", "TXT"):
        answer = dns(world, "devclient", "dev1", qtype)
        assert answer["rcode"] == "NOERROR" and answer["answers"] == [], qtype


def test_sandbox_on_both_networks(dev_prod, world):
    world.cnm("sandbox", "create", "--name", "both", "--network", "prod", "--network", "dev")
    prod1, dev1 = ip_of(world, "prod1", "prod"), ip_of(world, "dev1", "dev")
    assert addresses(world, "both", "prod1") == [prod1]
    assert addresses(world, "both", "dev1") == [dev1]
    # a name on both networks: the first connected network answers
    assert addresses(world, "both", "search") == [prod1]
    assert len(addresses(world, "both", "search.dev")) == 2
    # and everyone on dev or prod resolves the newcomer, on their own network
    assert addresses(world, "devclient", "both") == [ip_of(world, "both", "dev")]
    assert addresses(world, "prodclient", "both") == [ip_of(world, "both", "prod")]
    world.cnm("sandbox", "rm", "-f", "both")


def test_connect_and_disconnect_are_visible_to_the_next_query(dev_prod, world):
    world.cnm("sandbox", "create", "--name", "mover", "--network", "dev")
    mover = ip_of(world, "mover", "dev")
    assert addresses(world, "devclient", "mover") == [mover]
    world.cnm("network", "connect", "--alias", "search", "prod", "mover")
    assert len(addresses(world, "prodclient", "search")) == 2
    world.cnm("network", "disconnect", "dev", "mover")
    assert dns(world, "devclient", "mover")["rcode"] == "NXDOMAIN"
    assert addresses(world, "prodclient", "mover") == [ip_of(world, "mover", "prod")]
    world.cnm("sandbox", "rm", "-f", "mover")
    assert dns(world, "prodclient", "mover")["rcode"] == "NXDOMAIN"
    assert addresses(world, "prodclient", "search") == [ip_of(world, "prod1", "prod")]


def test_forwarding_leaves_from_the_sandbox_namespace(dev_prod, world):
    assert addresses(world, "devclient", "outside.example") == ["198.51.100.7"]
    with open(world.upstream_logs["world"]) as handle:
        sources = [line.split()[0] for line in handle if " outside.example " in line]
    assert ip_of(world, "devclient", "dev") in sources
    # a glibc client through the sandbox's own resolv.conf
    got = world.cnm("exec", "devclient", "getent", "ahostsv4", "outside.example").stdout
    assert "198.51.100.7" in got


def test_host_loopback_upstream_and_internal_networks(dev_prod, world):
    assert addresses(world, "devclient", "loopback.example") == ["203.0.113.9"]
    with open(world.upstream_logs["loopback"]) as handle:
        assert any(line.startswith("127.0.0.1 loopback.example") for line in handle)
    world.cnm("network", "create", "--internal", "--subnet", "10.63.0.0/24", "sealed")
    world.cnm("sandbox", "create", "--name", "inside", "--network", "sealed", "--alias", "vault")
    world.cnm("sandbox", "create", "--name", "inside2", "--network", "sealed")
    # its own names still resolve; nothing leaves: neither the host's loopback server nor the world
    assert addresses(world, "inside2", "vault") == [ip_of(world, "inside", "sealed")]
    assert dns(world, "inside2", "loopback.example")["rcode"] == "SERVFAIL"
    assert dns(world, "inside2", "outside.example")["rcode"] == "SERVFAIL"
    world.cnm("sandbox", "rm", "-f", "inside", "inside2")
    world.cnm("network", "rm", "sealed")


def test_truncated_udp_answer_is_relayed_and_tcp_gets_it_all(dev_prod, world):
    udp = dns(world, "devclient", "big.example", "A", "udp")
    assert udp["tc"] == 1 and len(udp["answers"]) < 80
    tcp = dns(world, "devclient", "big.example", "A", "tcp")
    assert tcp["tc"] == 0 and len(tcp["answers"]) == 80
    with open(world.upstream_logs["world"]) as handle:
        assert any(" big.example tcp" in line for line in handle)
    # glibc retries over TCP by itself
    got = world.cnm("exec", "devclient", "getent", "ahostsv4", "big.example").stdout
    assert len({line.split()[0] for line in got.splitlines()}) == 80
    # our own answers over TCP too
    assert sorted(dns(world, "devclient", "search", "A", "tcp")["answers"]) == sorted(
        [ip_of(world, "dev1", "dev"), ip_of(world, "dev2", "dev")])


def _forward_diagnosis(world, sandbox: str) -> str:
    """What a person chasing a failed forward wants: the daemon's reason, the upstream's view, the path."""
    failures = [line for line in world.log().splitlines() if "dns forward failed" in line][-3:]
    try:
        with open(world.upstream_logs["world"]) as handle:
            seen = [line.strip() for line in handle][-5:]
    except FileNotFoundError:
        seen = []
    direct = dns(world, sandbox, "direct.example", "A", "udp", server=UPSTREAM)
    neigh = world.run_in_sandbox(sandbox, "ip", "neigh", check=False).stdout.strip()
    # A gateway MAC in the sandbox's neighbour table that no longer is the
    # bridge's was the cause once (the bridge followed its lowest port's MAC).
    bridges = [line for line in world.run_on_host("ip", "-br", "link", check=False).stdout.splitlines()
               if line.startswith("br-")]
    return (f"daemon: {failures}; upstream last saw: {seen}; direct query from the sandbox: {direct}; "
            f"neigh: {neigh!r}; bridges: {bridges}")


def test_sandbox_dns_options_links_and_extra_hosts(dev_prod, world):
    world.cnm("sandbox", "create", "--name", "custom", "--network", "dev", "--dns", UPSTREAM,
              "--dns-search", "a.example", "--dns-option", "ndots:2", "--add-host", "printer:10.9.9.9",
              "--link", "dev1:database")
    box = world.inspect("sandbox", "custom")
    with open(box["ResolvConfPath"]) as handle:
        text = handle.read()
    assert "nameserver 127.0.0.11\n" in text and "search a.example\n" in text
    assert "options ndots:2\n" in text and f"# ExtServers: [{UPSTREAM}]" in text
    with open(box["HostsPath"]) as handle:
        assert "10.9.9.9\tprinter\n" in handle.read()
    # --dns upstreams only: the host-loopback server is not asked
    assert dns(world, "custom", "loopback.example")["rcode"] == "NXDOMAIN"
    # the link alias is the linking sandbox's alone
    assert addresses(world, "custom", "database") == [ip_of(world, "dev1", "dev")]
    # Not devclient's name: forwarded upstream, which does not know it either.
    answer = dns(world, "devclient", "database")
    assert answer["rcode"] == "NXDOMAIN" and not answer["answers"], (answer, _forward_diagnosis(world, "devclient"))
    world.cnm("sandbox", "rm", "-f", "custom")


def test_links_on_the_default_bridge_are_hosts_entries(world):
    world.cnm("sandbox", "create", "--name", "target", "--hostname", "tgt")
    world.cnm("sandbox", "create", "--name", "linker", "--link", "target:db")
    with open(world.inspect("sandbox", "linker")["HostsPath"]) as handle:
        hosts = handle.read()
    assert f"{ip_of(world, 'target', 'bridge')}\tdb tgt target\n" in hosts
    assert world.inspect("sandbox", "linker")  # and it has no resolver
    failed = world.cnm("sandbox", "create", "--name", "broken", "--link", "nosuch:db", check=False)
    assert failed.returncode != 0 and "nosuch" in failed.stderr
    world.cnm("sandbox", "rm", "-f", "target", "linker")


def test_garbage_does_not_stop_the_resolver(dev_prod, world):
    world.run_in_sandbox("devclient", sys.executable, os.path.join(HERE, "dns_client.py"), "fuzz", "3000", "7",
                         timeout=120)
    assert addresses(world, "devclient", "dev1") == [ip_of(world, "dev1", "dev")]
    assert dns(world, "devclient", "dev2", "A", "tcp")["answers"] == [ip_of(world, "dev2", "dev")]
    assert world.process.poll() is None


def test_restart_restores_every_resolver(dev_prod, world):
    dev1 = ip_of(world, "dev1", "dev")
    world.stop()
    world.start()
    deadline = time.monotonic() + 10
    while True:
        answer = dns(world, "devclient", "dev1")
        if answer.get("answers") == [dev1] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert answer["answers"] == [dev1]
    assert addresses(world, "prodclient", "search") == [ip_of(world, "prod1", "prod")]
