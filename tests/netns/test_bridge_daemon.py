"""The firewall across the daemon's life: restart reconciliation, --iptables=false, --cleanup, dockerd's flags."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid

import pytest

from libnetwork.testing import delete_netns, new_daemon, run_in

from .traffic import attach_outside, pings, request, ruleset, server

HOST_IP = "192.0.2.1"
OUTSIDE_IP = "192.0.2.2"


@pytest.fixture
def daemon_factory():
    made = []

    def make(*args: str, start: bool = True):
        daemon = new_daemon(*args)
        made.append(daemon)
        if start:
            daemon.start()
        return daemon

    yield make
    for daemon in made:
        daemon.cleanup()


@pytest.fixture
def outside_of():
    made = []

    def attach(daemon) -> str:
        name = f"cnmo-{uuid.uuid4().hex[:8]}"
        made.append(name)
        return attach_outside(daemon.netns_path, daemon.name, name)

    yield attach
    for name in made:
        delete_netns(name)


def _elements(daemon, set_name: str, family: str = "inet") -> list:
    listing = json.loads(daemon.run_on_host("nft", "-j", "list", "set" if "ports" not in set_name else "map",
                                            family, "cnm", set_name).stdout)
    body = next(v for item in listing["nftables"] for k, v in item.items() if k in ("set", "map"))
    return body.get("elem", [])


def test_restart_keeps_rules_and_reconciles_them(daemon_factory, outside_of):
    cnmd = daemon_factory()
    outside = outside_of(cnmd)
    cnmd.cnm("network", "create", "--subnet", "10.61.0.0/24", "-o", "com.docker.network.bridge.enable_icc=false",
             "keep")
    cnmd.cnm("sandbox", "create", "--name", "kept", "--network", "keep", "-p", "8600:80", "-p", "80/udp")
    cnmd.cnm("sandbox", "create", "--name", "kept2", "--network", "keep")
    ephemeral = cnmd.inspect("sandbox", "kept")["Ports"]["80/udp"][0]["HostPort"]
    kept = cnmd.sandbox_netns("kept")
    good = ruleset(cnmd.netns_path)
    cnmd.stop()
    # nothing fails open while the daemon is down
    assert ruleset(cnmd.netns_path) == good
    with server(kept):
        assert request(outside, HOST_IP, 8600) == f"from {OUTSIDE_IP}"
    # drift while down: a stale element, a missing one, and the administrator's rule
    cnmd.run_on_host("nft", "add", "element", "inet", "cnm", "bridges", "{ br-stale }")
    cnmd.run_on_host("nft", "add", "element", "inet", "cnm", "ports4_any_addr", "{ tcp . 9999 : 10.61.0.77 }")
    cnmd.run_on_host("nft", "delete", "element", "inet", "cnm", "ports4_any_addr", "{ tcp . 8600 }")
    cnmd.run_on_host("nft", "flush", "set", "bridge", "cnm", "isolated")
    cnmd.run_on_host("nft", "add", "rule", "inet", "cnm", "user", "ip", "saddr", "203.0.113.9", "drop")
    cnmd.start()
    after = ruleset(cnmd.netns_path)
    user_rules = [i for i in after["nftables"] if "rule" in i and i["rule"]["chain"] == "user"]
    assert len(user_rules) == 1, "the user chain is never flushed"
    assert {"nftables": [i for i in after["nftables"] if i not in user_rules]} == good
    assert cnmd.inspect("sandbox", "kept")["Ports"]["80/udp"][0]["HostPort"] == ephemeral
    with server(cnmd.sandbox_netns("kept")):
        assert request(outside, HOST_IP, 8600) == f"from {OUTSIDE_IP}"
    assert not pings(cnmd.sandbox_netns("kept2"), "10.61.0.2")
    # the host port is held again by the restarted daemon
    grab = run_in(cnmd.netns_path, "python3", "-c", "import socket; socket.socket().bind(('0.0.0.0', 8600))",
                  check=False)
    assert "Address already in use" in grab.stderr


def test_iptables_false_makes_no_firewall(daemon_factory):
    cnmd = daemon_factory("--iptables=false")
    cnmd.cnm("network", "create", "--subnet", "10.62.0.0/24", "bare")
    cnmd.cnm("sandbox", "create", "--name", "bare-1", "--network", "bare", "-p", "8700:80")
    cnmd.cnm("sandbox", "create", "--name", "bare-2", "--network", "bare")
    assert pings(cnmd.sandbox_netns("bare-1"), "10.62.0.3")
    assert cnmd.run_on_host("nft", "list", "tables").stdout.strip() == ""
    # the port is still reserved and reported, as dockerd does with --iptables=false
    assert cnmd.cnm("port", "bare-1").stdout == "80/tcp -> 0.0.0.0:8700\n"


def test_cleanup_removes_what_the_daemon_made(daemon_factory):
    cnmd = daemon_factory()
    cnmd.cnm("network", "create", "--subnet", "10.63.0.0/24", "-o", "com.docker.network.bridge.name=cleanme", "tidy")
    cnmd.cnm("sandbox", "create", "--name", "tidy-1", "--network", "tidy", "-p", "8800:80")
    cnmd.cnm("sandbox", "create", "--name", "tidy-2")
    netns_dir = os.path.join(cnmd.exec_root, "netns")
    assert len(os.listdir(netns_dir)) == 2
    refused = subprocess.run(["nsenter", f"--net={cnmd.netns_path}", "cnmd", "--cleanup", "--data-root",
                              cnmd.data_root, "--exec-root", cnmd.exec_root], capture_output=True, text=True)
    assert refused.returncode == 1 and "in use" in refused.stderr
    cnmd.stop()
    done = subprocess.run(["nsenter", f"--net={cnmd.netns_path}", "cnmd", "--cleanup", "--data-root",
                           cnmd.data_root, "--exec-root", cnmd.exec_root], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert cnmd.run_on_host("nft", "list", "tables").stdout.strip() == ""
    links = cnmd.run_on_host("ip", "-br", "link").stdout
    assert "cleanme" not in links and "cnm0" not in links and "veth" not in links
    assert os.listdir(netns_dir) == []
    # the records stay: a start builds it all again
    cnmd.start()
    assert "cleanme" in cnmd.run_on_host("ip", "-br", "link").stdout
    assert cnmd.cnm("port", "tidy-1").stdout == "80/tcp -> 0.0.0.0:8800\n"


def test_dockerd_flags_shape_the_default_bridge(daemon_factory, outside_of):
    cnmd = daemon_factory("--bip", "172.17.0.1/16", "--fixed-cidr", "172.17.5.0/24",
                          "--default-gateway", "172.17.0.254", "--icc=false", "--ip-masq=false",
                          "--ip", HOST_IP, "--mtu", "1400", start=False)
    outside_of(cnmd)
    cnmd.start()
    cnmd.cnm("sandbox", "create", "--name", "d1", "-p", "80")
    cnmd.cnm("sandbox", "create", "--name", "d2")
    d1 = cnmd.inspect("sandbox", "d1")
    assert d1["Networks"]["bridge"]["IPAddress"].startswith("172.17.5.")
    assert d1["Networks"]["bridge"]["Gateway"] == "172.17.0.254"
    assert "via 172.17.0.254" in cnmd.run_in_sandbox("d1", "ip", "route", "show", "default").stdout
    assert "mtu 1400" in cnmd.run_in_sandbox("d1", "ip", "link", "show", "eth0").stdout
    assert d1["Ports"]["80/tcp"][0]["HostIp"] == HOST_IP
    assert not pings(cnmd.sandbox_netns("d1"), cnmd.inspect("sandbox", "d2")["Networks"]["bridge"]["IPAddress"])
    assert _elements(cnmd, "masq4") == []
    options = cnmd.inspect("network", "bridge")["Options"]
    assert options["com.docker.network.driver.mtu"] == "1400"
    assert options["com.docker.network.bridge.enable_icc"] == "false"
    assert options["com.docker.network.bridge.enable_ip_masquerade"] == "false"
    assert options["com.docker.network.bridge.host_binding_ipv4"] == HOST_IP
    # a user network keeps Docker's defaults: ICC on, masquerade on
    cnmd.cnm("network", "create", "--subnet", "10.64.0.0/24", "usernet")
    cnmd.cnm("sandbox", "create", "--name", "u1", "--network", "usernet")
    cnmd.cnm("sandbox", "create", "--name", "u2", "--network", "usernet")
    assert pings(cnmd.sandbox_netns("u1"), "10.64.0.3")
    assert _elements(cnmd, "masq4") == [{"prefix": {"addr": "10.64.0.0", "len": 24}}]


def test_config_file_with_dockerd_keys_and_sighup(daemon_factory, tmp_path):
    config = tmp_path / "daemon.json"
    config.write_text(json.dumps({"icc": False, "mtu": 1450,
                                  "default-address-pools": [{"base": "10.70.0.0/16", "size": 24}]}))
    both = subprocess.run(["cnmd", "--config-file", str(config), "--mtu", "1300", "--data-root", str(tmp_path / "d"),
                           "--exec-root", str(tmp_path / "e")], capture_output=True, text=True, timeout=30)
    assert both.returncode == 1
    assert "specified both as a flag and in the configuration file: mtu: (from flag: 1300, from file: 1450)" \
        in both.stderr
    unknown = tmp_path / "bad.json"
    unknown.write_text(json.dumps({"no-such-key": 1}))
    bad = subprocess.run(["cnmd", "--config-file", str(unknown)], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 1 and "don't match any configuration option: no-such-key" in bad.stderr

    cnmd = daemon_factory("--config-file", str(config))
    cnmd.cnm("sandbox", "create", "--name", "c1")
    assert "mtu 1450" in cnmd.run_in_sandbox("c1", "ip", "link", "show", "eth0").stdout
    cnmd.cnm("network", "create", "pooled")
    # the default bridge took the first subnet of the pool, as in Docker
    assert cnmd.inspect("network", "pooled")["IPAM"]["Config"][0]["Subnet"] == "10.70.1.0/24"
    config.write_text(json.dumps({"icc": False, "mtu": 1500, "debug": True,
                                  "default-address-pools": [{"base": "10.70.0.0/16", "size": 24}]}))
    cnmd.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "configuration reloaded" not in cnmd.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = cnmd.log()
    assert "applied=debug" in log and "needs_restart=mtu" in log
    assert cnmd.process.poll() is None
