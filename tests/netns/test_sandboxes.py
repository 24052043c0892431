"""Sandboxes: namespaces, interfaces in connection order, real packets, exec."""

from __future__ import annotations

import json
import os
import time

from pyroute2 import IPRoute


def _links(netns_path: str) -> dict[str, dict]:
    with IPRoute(netns=netns_path) as ipr:
        result = {}
        for link in ipr.link("dump"):
            name = link.get_attr("IFLA_IFNAME")
            addrs = [f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}" for a in ipr.addr("dump", index=link["index"])
                     if not a.get_attr("IFA_ADDRESS").startswith("fe80:")]
            result[name] = {"mac": link.get_attr("IFLA_ADDRESS"), "addrs": addrs, "mtu": link.get_attr("IFLA_MTU")}
        return result


def test_two_sandboxes_ping_each_other(cnmd):
    cnmd.cnm("network", "create", "--subnet", "10.31.0.0/24", "pingnet")
    first = cnmd.cnm("sandbox", "create", "--name", "p1", "--network", "pingnet").stdout.strip()
    assert len(first) == 64
    cnmd.cnm("sandbox", "create", "--name", "p2", "--network", "pingnet", "--ip", "10.31.0.99")
    p1 = cnmd.inspect("sandbox", "p1")
    assert p1["Networks"]["pingnet"]["IPAddress"] == "10.31.0.2"
    assert p1["Networks"]["pingnet"]["Gateway"] == "10.31.0.1"
    assert p1["Networks"]["pingnet"]["MacAddress"] == "02:42:0a:1f:00:02"
    links = _links(p1["SandboxKey"])
    assert links["eth0"]["addrs"][0] == "10.31.0.2/24"
    assert links["eth0"]["mac"] == "02:42:0a:1f:00:02"
    cnmd.run_in_sandbox("p1", "ping", "-c", "2", "-W", "2", "10.31.0.99")
    cnmd.run_in_sandbox("p2", "ping", "-c", "1", "-W", "2", "10.31.0.1")
    route = cnmd.run_in_sandbox("p1", "ip", "route", "show", "default").stdout
    assert "via 10.31.0.1 dev eth0" in route
    cnmd.cnm("sandbox", "rm", "-f", "p1", "p2")
    assert not os.path.exists(p1["SandboxKey"])
    # the address is free again: Docker hands out the lowest free one
    cnmd.cnm("sandbox", "create", "--name", "p3", "--network", "pingnet")
    assert cnmd.inspect("sandbox", "p3")["Networks"]["pingnet"]["IPAddress"] == "10.31.0.2"
    cnmd.cnm("sandbox", "rm", "-f", "p3")
    cnmd.cnm("network", "rm", "pingnet")
    leftovers = cnmd.run_on_host("ip", "-br", "link").stdout
    assert "veth" not in leftovers


def test_interfaces_in_connection_order_and_default_route(cnmd):
    cnmd.cnm("network", "create", "--subnet", "10.32.0.0/24", "ord-a")
    cnmd.cnm("network", "create", "--subnet", "10.33.0.0/24", "ord-b")
    cnmd.cnm("sandbox", "create", "--name", "ord", "--network", "ord-b", "--network", "ord-a")
    box = cnmd.inspect("sandbox", "ord")
    links = _links(box["SandboxKey"])
    assert links["eth0"]["addrs"] == ["10.33.0.2/24"]
    assert links["eth1"]["addrs"] == ["10.32.0.2/24"]
    assert "via 10.33.0.1 dev eth0" in cnmd.run_in_sandbox("ord", "ip", "route", "show", "default").stdout
    # the gateway moves to the next network when the first one leaves
    cnmd.cnm("network", "disconnect", "ord-b", "ord")
    assert "via 10.32.0.1 dev eth1" in cnmd.run_in_sandbox("ord", "ip", "route", "show", "default").stdout
    cnmd.cnm("network", "connect", "ord-b", "ord")
    assert "eth0" in _links(box["SandboxKey"])
    cnmd.cnm("sandbox", "rm", "-f", "ord")
    cnmd.cnm("network", "rm", "ord-a", "ord-b")


def test_ipv6_is_on_only_where_the_endpoint_has_an_ipv6_address(cnmd):
    cnmd.cnm("network", "create", "--subnet", "10.34.0.0/24", "v4only")
    cnmd.cnm("network", "create", "--ipv6", "--subnet", "10.35.0.0/24", "--subnet", "fd00:35::/64", "dual")
    cnmd.cnm("sandbox", "create", "--name", "six", "--network", "v4only", "--network", "dual")

    def disabled(ifname: str) -> str:
        return cnmd.run_in_sandbox("six", "cat", f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6").stdout.strip()

    # as Docker: no IPv6 stack (no link-local, no multicast groups) on an IPv4-only endpoint
    assert disabled("eth0") == "1" and disabled("eth1") == "0" and disabled("lo") == "0"
    inet6 = cnmd.run_in_sandbox("six", "ip", "-6", "-o", "addr").stdout
    assert " eth0 " not in inet6 and "fd00:35::" in inet6 and "::1/128" in inet6
    dual = cnmd.inspect("sandbox", "six")["Networks"]["dual"]["GlobalIPv6Address"]
    cnmd.cnm("sandbox", "create", "--name", "six2", "--network", "dual")
    cnmd.run_in_sandbox("six2", "ping", "-6", "-c", "1", "-W", "2", dual)
    cnmd.cnm("sandbox", "rm", "-f", "six", "six2")
    cnmd.cnm("network", "rm", "v4only", "dual")


def test_the_gateway_mac_stays_while_sandboxes_come_and_go(cnmd):
    # A bridge whose MAC followed its lowest port's would strand the sandboxes
    # that had the old one in their ARP tables: the bridge drops frames for a
    # port's MAC as not for this host (a forwarded DNS query then timed out).
    nid = cnmd.cnm("network", "create", "--subnet", "10.36.0.0/24", "stablemac").stdout.strip()
    bridge = f"br-{nid[:12]}"

    def bridge_mac() -> str:
        return _links(cnmd.netns_path)[bridge]["mac"]

    before = bridge_mac()
    cnmd.cnm("sandbox", "create", "--name", "steady", "--network", "stablemac")
    cnmd.run_in_sandbox("steady", "ping", "-c", "1", "-W", "2", "10.36.0.1")
    for i in range(6):
        cnmd.cnm("sandbox", "create", "--name", f"passing{i}", "--network", "stablemac")
    assert bridge_mac() == before
    cnmd.cnm("sandbox", "rm", "-f", *[f"passing{i}" for i in range(6)])
    assert bridge_mac() == before
    assert f"lladdr {before} " in cnmd.run_in_sandbox("steady", "ip", "neigh", "show", "10.36.0.1").stdout
    cnmd.run_in_sandbox("steady", "ping", "-c", "1", "-W", "2", "10.36.0.1")
    cnmd.cnm("sandbox", "rm", "-f", "steady")
    cnmd.cnm("network", "rm", "stablemac")


def test_default_network_is_bridge(cnmd):
    cnmd.cnm("sandbox", "create", "--name", "dflt")
    box = cnmd.inspect("sandbox", "dflt")
    assert list(box["Networks"]) == ["bridge"]
    assert box["Networks"]["bridge"]["IPAddress"].startswith("172.17.0.")
    assert "172.17.0.1/16" in cnmd.run_on_host("ip", "-o", "addr", "show", "cnm0").stdout
    cnmd.cnm("sandbox", "rm", "-f", "dflt")


def test_none_host_and_container_modes(cnmd):
    cnmd.cnm("sandbox", "create", "--name", "nobody", "--network", "none")
    assert set(_links(cnmd.sandbox_netns("nobody"))) == {"lo"}
    cnmd.cnm("sandbox", "create", "--name", "hosty", "--network", "host")
    hosty = cnmd.inspect("sandbox", "hosty")
    assert hosty["NetworkMode"] == "host"
    assert "cnm0" in _links(hosty["SandboxKey"])
    host_net = cnmd.inspect("network", "host")
    assert [c["Name"] for c in host_net["Containers"].values()] == ["hosty"]
    status = cnmd.cnm("network", "connect", "bridge", "hosty", check=False)
    assert status.returncode == 1 and "host network" in status.stderr

    cnmd.cnm("sandbox", "create", "--name", "owner", "--network", "bridge")
    cnmd.cnm("sandbox", "create", "--name", "sharer", "--network", "container:owner")
    owner, sharer = cnmd.inspect("sandbox", "owner"), cnmd.inspect("sandbox", "sharer")
    assert sharer["SandboxKey"] == owner["SandboxKey"]
    assert sharer["NetworkMode"] == f"container:{owner['Id']}"
    refused = cnmd.cnm("network", "connect", "bridge", "sharer", check=False)
    assert "sharing network namespace" in refused.stderr
    both = cnmd.cnm("sandbox", "create", "--name", "both", "--network", "none", "--network", "bridge", check=False)
    assert both.returncode == 1
    cnmd.cnm("sandbox", "rm", "-f", "sharer", "owner", "hosty", "nobody")
    assert "hosty" not in json.dumps(cnmd.inspect("network", "host")["Containers"])


def test_exec_sees_sandbox_files_and_hostname(cnmd):
    cnmd.cnm("sandbox", "create", "--name", "ex", "--hostname", "exhost")
    script = "hostname; cat /etc/hosts; cat /etc/resolv.conf; ls /sys/class/net"
    out = cnmd.cnm("exec", "ex", "--", "sh", "-c", script).stdout
    assert out.splitlines()[0] == "exhost"
    ip = cnmd.inspect("sandbox", "ex")["Networks"]["bridge"]["IPAddress"]
    assert f"{ip}\texhost" in out
    assert "nameserver" in out and "127.0.0.53" not in out
    assert "eth0" in out
    code = cnmd.cnm("exec", "ex", "--", "sh", "-c", "exit 7", check=False).returncode
    assert code == 7
    cnmd.cnm("sandbox", "rm", "-f", "ex")


def test_sandbox_errors(cnmd):
    assert cnmd.cnm("sandbox", "inspect", "nope", check=False).returncode == 1
    cnmd.cnm("sandbox", "create", "--name", "dupbox", "--network", "none")
    dup = cnmd.cnm("sandbox", "create", "--name", "dupbox", check=False)
    assert dup.returncode == 1 and "already in use" in dup.stderr
    missing = cnmd.cnm("sandbox", "create", "--name", "lost", "--network", "no-such-net", check=False)
    assert "network no-such-net not found" in missing.stderr
    assert "lost" not in cnmd.cnm("sandbox", "ls").stdout
    # a failure half way (second network missing) leaves nothing behind
    cnmd.cnm("network", "create", "--subnet", "10.34.0.0/24", "half")
    half = cnmd.cnm("sandbox", "create", "--name", "halfbox", "--network", "half", "--network", "ghost", check=False)
    assert half.returncode == 1
    assert cnmd.inspect("network", "half")["Containers"] == {}
    assert "veth" not in cnmd.run_on_host("ip", "-br", "link").stdout
    bad_ip = cnmd.cnm("sandbox", "create", "--name", "badip", "--network", "half", "--ip", "10.99.0.5", check=False)
    assert bad_ip.returncode == 1
    cnmd.cnm("sandbox", "create", "--name", "okip", "--network", "half")
    assert cnmd.inspect("sandbox", "okip")["Networks"]["half"]["IPAddress"] == "10.34.0.2"
    cnmd.cnm("sandbox", "rm", "-f", "okip", "dupbox")
    cnmd.cnm("network", "rm", "half")


def test_adopted_namespace_and_its_disappearance(cnmd, namespace):
    path = namespace("cnmadopt")
    cnmd.cnm("network", "create", "--subnet", "10.35.0.0/24", "adoptnet")
    cnmd.cnm("sandbox", "create", "--name", "adopted", "--netns", path, "--network", "adoptnet")
    box = cnmd.inspect("sandbox", "adopted")
    assert box["SandboxKey"] == path and box["Adopted"] is True
    assert _links(path)["eth0"]["addrs"] == ["10.35.0.2/24"]
    os.system(f"ip netns delete {os.path.basename(path)}")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "adopted" in cnmd.cnm("sandbox", "ls").stdout:
        time.sleep(0.2)
    assert "adopted" not in cnmd.cnm("sandbox", "ls").stdout
    assert cnmd.inspect("network", "adoptnet")["Containers"] == {}
    cnmd.cnm("sandbox", "create", "--name", "reuse", "--network", "adoptnet")
    assert cnmd.inspect("sandbox", "reuse")["Networks"]["adoptnet"]["IPAddress"] == "10.35.0.2"
    cnmd.cnm("sandbox", "rm", "-f", "reuse")
    cnmd.cnm("network", "rm", "adoptnet")
