"""The bridge driver's firewall with real packets: isolation, ICC, internal, masquerade, published ports."""

from __future__ import annotations

import json
import uuid

import pytest

from libnetwork.testing import delete_netns, run_in

from .traffic import attach_outside, pings, request, ruleset, server

HOST_IP = "192.0.2.1"
OUTSIDE_IP = "192.0.2.2"


@pytest.fixture(scope="module")
def outside(cnmd):
    """A namespace routed to the fake host: another host, and the upstream internet."""
    name = f"cnmo-{uuid.uuid4().hex[:8]}"
    path = attach_outside(cnmd.netns_path, cnmd.name, name)
    yield path
    delete_netns(name)


def _ip(cnmd, box: str, network: str) -> str:
    return cnmd.inspect("sandbox", box)["Networks"][network]["IPAddress"]


def test_ping_and_tcp_between_sandboxes(cnmd):
    cnmd.cnm("network", "create", "--subnet", "10.41.0.0/24", "fw-one")
    cnmd.cnm("sandbox", "create", "--name", "one-a", "--network", "fw-one")
    cnmd.cnm("sandbox", "create", "--name", "one-b", "--network", "fw-one")
    assert pings(cnmd.sandbox_netns("one-a"), "10.41.0.3")
    with server(cnmd.sandbox_netns("one-b")):
        assert request(cnmd.sandbox_netns("one-a"), "10.41.0.3", 80) == "from 10.41.0.2"
    cnmd.cnm("sandbox", "rm", "-f", "one-a", "one-b")
    cnmd.cnm("network", "rm", "fw-one")


def test_no_traffic_across_networks_unless_connected_to_both(cnmd):
    cnmd.cnm("network", "create", "--subnet", "10.42.0.0/24", "iso-a")
    cnmd.cnm("network", "create", "--subnet", "10.43.0.0/24", "iso-b")
    cnmd.cnm("sandbox", "create", "--name", "iso-1", "--network", "iso-a")
    cnmd.cnm("sandbox", "create", "--name", "iso-2", "--network", "iso-b")
    one, two = cnmd.sandbox_netns("iso-1"), cnmd.sandbox_netns("iso-2")
    assert not pings(one, "10.43.0.2")
    with server(two):
        assert request(one, "10.43.0.2", 80, timeout=1).startswith("error")
    # each still reaches its own gateway
    assert pings(one, "10.42.0.1") and pings(two, "10.43.0.1")
    cnmd.cnm("network", "connect", "iso-b", "iso-1")
    assert pings(one, "10.43.0.2")
    cnmd.cnm("sandbox", "rm", "-f", "iso-1", "iso-2")
    cnmd.cnm("network", "rm", "iso-a", "iso-b")


def test_icc_off_blocks_sandboxes_of_one_network(cnmd):
    cnmd.cnm("network", "create", "--subnet", "10.44.0.0/24", "-o", "com.docker.network.bridge.enable_icc=false",
             "noicc")
    cnmd.cnm("sandbox", "create", "--name", "icc-1", "--network", "noicc")
    cnmd.cnm("sandbox", "create", "--name", "icc-2", "--network", "noicc")
    one = cnmd.sandbox_netns("icc-1")
    assert not pings(one, "10.44.0.3")
    with server(cnmd.sandbox_netns("icc-2")):
        assert request(one, "10.44.0.3", 80, timeout=1).startswith("error")
    assert pings(one, "10.44.0.1")  # the host is not another sandbox
    cnmd.cnm("sandbox", "rm", "-f", "icc-1", "icc-2")
    cnmd.cnm("network", "rm", "noicc")
    assert "isolated" not in json.dumps([e for e in ruleset(cnmd.netns_path)["nftables"] if "elem" in str(e)])


def test_internal_network_has_no_way_out(cnmd, outside):
    cnmd.cnm("network", "create", "--internal", "--subnet", "10.45.0.0/24", "inner")
    cnmd.cnm("sandbox", "create", "--name", "in-1", "--network", "inner")
    cnmd.cnm("sandbox", "create", "--name", "in-2", "--network", "inner")
    box = cnmd.sandbox_netns("in-1")
    assert cnmd.run_in_sandbox("in-1", "ip", "route", "show", "default").stdout.strip() == ""
    assert pings(box, "10.45.0.3")
    # even with a route it set itself, nothing leaves the network
    run_in(box, "ip", "route", "add", "default", "via", "10.45.0.1")
    assert not pings(box, OUTSIDE_IP)
    with server(outside):
        assert request(box, OUTSIDE_IP, 80, timeout=1).startswith("error")
    run_in(outside, "ip", "route", "add", "10.45.0.0/24", "via", HOST_IP)
    assert not pings(outside, "10.45.0.2")
    run_in(outside, "ip", "route", "del", "10.45.0.0/24")
    cnmd.cnm("sandbox", "rm", "-f", "in-1", "in-2")
    cnmd.cnm("network", "rm", "inner")


def test_masquerade_to_upstream(cnmd, outside):
    cnmd.cnm("network", "create", "--subnet", "10.46.0.0/24", "masq")
    cnmd.cnm("sandbox", "create", "--name", "surfer", "--network", "masq")
    box = cnmd.sandbox_netns("surfer")
    assert pings(box, OUTSIDE_IP)
    with server(outside):
        # the upstream sees the host's address, not the sandbox's
        assert request(box, OUTSIDE_IP, 80) == f"from {HOST_IP}"
    cnmd.cnm("network", "create", "--subnet", "10.47.0.0/24",
             "-o", "com.docker.network.bridge.enable_ip_masquerade=false", "nomasq")
    cnmd.cnm("sandbox", "create", "--name", "plain", "--network", "nomasq")
    run_in(outside, "ip", "route", "add", "10.47.0.0/24", "via", HOST_IP)
    with server(outside):
        assert request(cnmd.sandbox_netns("plain"), OUTSIDE_IP, 80) == "from 10.47.0.2"
    run_in(outside, "ip", "route", "del", "10.47.0.0/24")
    cnmd.cnm("sandbox", "rm", "-f", "surfer", "plain")
    cnmd.cnm("network", "rm", "masq", "nomasq")


def test_published_port_from_outside_host_and_same_bridge(cnmd, outside):
    cnmd.cnm("network", "create", "--subnet", "10.48.0.0/24", "pub")
    cnmd.cnm("sandbox", "create", "--name", "web", "--network", "pub", "-p", "8080:80")
    cnmd.cnm("sandbox", "create", "--name", "client", "--network", "pub")
    cnmd.cnm("sandbox", "create", "--name", "stranger", "--network", "bridge")
    assert cnmd.cnm("port", "web").stdout == "80/tcp -> 0.0.0.0:8080\n"
    assert cnmd.inspect("sandbox", "web")["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}
    with server(cnmd.sandbox_netns("web")):
        # another host: the sandbox sees it as it is
        assert request(outside, HOST_IP, 8080) == f"from {OUTSIDE_IP}"
        # the host itself, on its own addresses and on localhost
        assert request(cnmd.netns_path, HOST_IP, 8080).startswith("from ")
        assert request(cnmd.netns_path, "127.0.0.1", 8080) == "from 10.48.0.1"
        assert request(cnmd.netns_path, "10.48.0.1", 8080).startswith("from ")
        # hairpin: a sandbox on the same bridge, and the sandbox itself
        assert request(cnmd.sandbox_netns("client"), HOST_IP, 8080) == "from 10.48.0.1"
        assert request(cnmd.sandbox_netns("web"), HOST_IP, 8080) == "from 10.48.0.1"
        # a sandbox of another network reaches it through the host, as in Docker
        assert request(cnmd.sandbox_netns("stranger"), HOST_IP, 8080).startswith("from ")
        # the sandbox itself is not reachable directly from outside
        run_in(outside, "ip", "route", "add", "10.48.0.0/24", "via", HOST_IP)
        assert request(outside, "10.48.0.2", 80, timeout=1).startswith("error")
        run_in(outside, "ip", "route", "del", "10.48.0.0/24")
    cnmd.cnm("sandbox", "rm", "-f", "web", "client", "stranger")
    cnmd.cnm("network", "rm", "pub")


def test_published_port_on_localhost_only(cnmd, outside):
    cnmd.cnm("sandbox", "create", "--name", "local", "-p", "127.0.0.1:8081:80")
    with server(cnmd.sandbox_netns("local")):
        assert request(cnmd.netns_path, "127.0.0.1", 8081).startswith("from ")
        assert request(outside, HOST_IP, 8081, timeout=1).startswith("error")
    cnmd.cnm("sandbox", "rm", "-f", "local")


def test_udp_published_port(cnmd, outside):
    cnmd.cnm("sandbox", "create", "--name", "dns", "-p", "5353:53/udp")
    assert cnmd.cnm("port", "dns").stdout == "53/udp -> 0.0.0.0:5353\n"
    with server(cnmd.sandbox_netns("dns"), proto="udp", port=53):
        assert request(outside, HOST_IP, 5353, proto="udp") == f"from {OUTSIDE_IP}"
        assert request(cnmd.netns_path, "127.0.0.1", 5353, proto="udp").startswith("from ")
    cnmd.cnm("sandbox", "rm", "-f", "dns")


def test_ephemeral_ranges_and_publish_all(cnmd, outside):
    low, _ = map(int, cnmd.run_on_host("cat", "/proc/sys/net/ipv4/ip_local_port_range").stdout.split())
    cnmd.cnm("sandbox", "create", "--name", "eph", "-p", "80", "-p", "9000-9001:90-91", "-p", "9100-9105:92",
             "--expose", "7000", "-P")
    ports = cnmd.inspect("sandbox", "eph")["Ports"]
    assert ports["80/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": str(low)}]
    assert ports["90/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": "9000"}]
    assert ports["91/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": "9001"}]
    assert ports["92/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": "9100"}]
    assert ports["7000/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": str(low + 1)}]
    with server(cnmd.sandbox_netns("eph"), port=7000):
        assert request(outside, HOST_IP, low + 1) == f"from {OUTSIDE_IP}"
    # the next sandbox takes the next ports of the ranges
    cnmd.cnm("sandbox", "create", "--name", "eph2", "-p", "80", "-p", "9100-9105:92")
    ports = cnmd.inspect("sandbox", "eph2")["Ports"]
    assert ports["80/tcp"][0]["HostPort"] == str(low + 2)
    assert ports["92/tcp"][0]["HostPort"] == "9101"
    cnmd.cnm("sandbox", "rm", "-f", "eph", "eph2")


def test_port_conflicts_leave_nothing_behind(cnmd):
    cnmd.cnm("sandbox", "create", "--name", "first", "-p", "8090:80")
    before = ruleset(cnmd.netns_path)
    taken = cnmd.cnm("sandbox", "create", "--name", "second", "-p", "8091:81", "-p", "8090:80", check=False)
    assert taken.returncode != 0
    assert "Bind for 0.0.0.0:8090 failed: port is already allocated" in taken.stderr
    assert "driver failed programming external connectivity on endpoint second" in taken.stderr
    assert "second" not in cnmd.cnm("sandbox", "ls").stdout
    assert ruleset(cnmd.netns_path) == before
    # 8091 was taken and given back
    cnmd.cnm("sandbox", "create", "--name", "third", "-p", "8091:81")
    # a port another process holds: the system's answer
    with server(cnmd.netns_path, port=8092):
        held = cnmd.cnm("sandbox", "create", "--name", "fourth", "-p", "8092:80", check=False)
    assert held.returncode != 0 and "address already in use" in held.stderr
    assert "fourth" not in cnmd.cnm("sandbox", "ls").stdout
    # and a published port is held against other processes
    grab = run_in(cnmd.netns_path, "python3", "-c",
                  "import socket; socket.socket().bind(('0.0.0.0', 8090))", check=False)
    assert "Address already in use" in grab.stderr
    cnmd.cnm("sandbox", "rm", "-f", "first", "third")


def test_network_and_sandbox_removal_leave_no_rule_behind(cnmd):
    before = ruleset(cnmd.netns_path)
    cnmd.cnm("network", "create", "--subnet", "10.49.0.0/24", "-o", "com.docker.network.bridge.enable_icc=false",
             "gone")
    cnmd.cnm("network", "create", "--internal", "--subnet", "10.50.0.0/24", "gone-internal")
    cnmd.cnm("sandbox", "create", "--name", "tmp-1", "--network", "gone", "-p", "8200:80", "-p", "8201:81/udp")
    cnmd.cnm("sandbox", "create", "--name", "tmp-2", "--network", "gone-internal")
    cnmd.cnm("network", "connect", "gone", "tmp-2")
    during = json.dumps(ruleset(cnmd.netns_path))
    assert "10.49.0.0" in during and "8200" in during and "10.50.0.0" not in during
    cnmd.cnm("sandbox", "rm", "-f", "tmp-1", "tmp-2")
    cnmd.cnm("network", "rm", "gone", "gone-internal")
    assert ruleset(cnmd.netns_path) == before
    links = cnmd.run_on_host("ip", "-br", "link").stdout
    assert "veth" not in links and "br-" not in links


def test_ipv6_network(cnmd):
    nid = cnmd.cnm("network", "create", "--ipv6", "--subnet", "10.51.0.0/24", "--subnet", "fd51::/64", "six").stdout
    cnmd.cnm("sandbox", "create", "--name", "six-1", "--network", "six")
    # The bridge's link-local address is usable at once: while it is tentative
    # the host sends no neighbour solicitation for a DNATed packet, and the
    # published port below took a probe interval or two (the test's timeout).
    bridge = f"br-{nid.strip()[:12]}"
    assert "fe80::" in cnmd.run_on_host("ip", "-6", "-o", "addr", "show", "dev", bridge).stdout
    assert cnmd.run_on_host("ip", "-6", "-o", "addr", "show", "dev", bridge, "tentative").stdout == ""
    cnmd.cnm("sandbox", "create", "--name", "six-2", "--network", "six", "-p", "8300:80")
    box = cnmd.inspect("sandbox", "six-1")["Networks"]["six"]
    assert box["GlobalIPv6Address"] == "fd51::2" and box["IPv6Gateway"] == "fd51::1"
    assert "fd51::2/64" in cnmd.run_in_sandbox("six-1", "ip", "-6", "addr", "show", "eth0").stdout
    assert "default via fd51::1 dev eth0" in cnmd.run_in_sandbox("six-1", "ip", "-6", "route").stdout
    assert pings(cnmd.sandbox_netns("six-1"), "fd51::3") and pings(cnmd.sandbox_netns("six-1"), "fd51::1")
    ports = cnmd.inspect("sandbox", "six-2")["Ports"]["80/tcp"]
    assert ports == [{"HostIp": "0.0.0.0", "HostPort": "8300"}, {"HostIp": "::", "HostPort": "8300"}]
    run_in(cnmd.netns_path, "ip", "addr", "add", "2001:db8::1/64", "dev", "lo")
    with server(cnmd.sandbox_netns("six-2"), ipv6=True):
        assert request(cnmd.netns_path, "2001:db8::1", 8300).startswith("from ")
    cnmd.cnm("sandbox", "rm", "-f", "six-1", "six-2")
    cnmd.cnm("network", "rm", "six")


def test_mtu_and_host_binding_options(cnmd, outside):
    cnmd.cnm("network", "create", "--subnet", "10.52.0.0/24", "-o", "com.docker.network.driver.mtu=1400",
             "-o", f"com.docker.network.bridge.host_binding_ipv4={HOST_IP}", "small")
    cnmd.cnm("sandbox", "create", "--name", "smallbox", "--network", "small", "-p", "8400:80")
    assert "mtu 1400" in cnmd.run_in_sandbox("smallbox", "ip", "link", "show", "eth0").stdout
    assert cnmd.cnm("port", "smallbox").stdout == f"80/tcp -> {HOST_IP}:8400\n"
    with server(cnmd.sandbox_netns("smallbox")):
        assert request(outside, HOST_IP, 8400) == f"from {OUTSIDE_IP}"
        assert request(cnmd.netns_path, "127.0.0.1", 8400, timeout=1).startswith("error")
    cnmd.cnm("sandbox", "rm", "-f", "smallbox")
    cnmd.cnm("network", "rm", "small")


def test_user_chain_comes_first(cnmd, outside):
    cnmd.cnm("sandbox", "create", "--name", "guarded", "-p", "8500:80")
    with server(cnmd.sandbox_netns("guarded")):
        assert request(outside, HOST_IP, 8500) == f"from {OUTSIDE_IP}"
        cnmd.run_on_host("nft", "add", "rule", "inet", "cnm", "user", "ip", "saddr", OUTSIDE_IP, "drop")
        assert request(outside, HOST_IP, 8500, timeout=1).startswith("error")
        cnmd.run_on_host("nft", "flush", "chain", "inet", "cnm", "user")
        assert request(outside, HOST_IP, 8500) == f"from {OUTSIDE_IP}"
    cnmd.cnm("sandbox", "rm", "-f", "guarded")
