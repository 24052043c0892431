"""macvlan: sandboxes as hosts of their own on a LAN.

The LAN is a bridge inside the daemon's throwaway host namespace.  An
"external host" namespace hangs off it by a veth pair, and a second pair
joins it to the daemon's side, whose host end is the macvlan parent: frames
a child sends out through the parent arrive on the bridge port ``lan.port``.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass

import pytest

from libnetwork.testing import Daemon, add_netns, delete_netns, run_in

_serial = itertools.count()


@functools.cache
def kernel_has(kind: str) -> bool:
    """Whether the kernel makes links of ``kind``: try one in a scratch namespace."""
    name = f"cnmk-{uuid.uuid4().hex[:8]}"
    path = add_netns(name)
    try:
        run_in(path, "ip", "link", "add", "probe0", "type", "veth", "peer", "name", "probe1")
        spec = {"vlan": ["link", "probe0", "name", "probe0.5", "type", "vlan", "id", "5"],
                "dummy": ["name", "probe2", "type", "dummy"]}[kind]
        return run_in(path, "ip", "link", "add", *spec, check=False).returncode == 0
    finally:
        delete_netns(name)


@dataclass
class Lan:
    daemon: Daemon
    bridge: str
    parent: str          # the daemon's end: macvlan parent
    port: str            # the bridge's end of the parent's veth
    ext_path: str        # the external host's namespace
    prefix: str          # "10.70.N": the external host is the router .1 and a LAN host .2

    def options(self, *more: str, parent: str | None = None, prefix: str | None = None) -> tuple[str, ...]:
        """Create a network on this LAN: sandboxes get .3, .4, ... as the LAN's hosts are reserved."""
        prefix = prefix or self.prefix
        return ("--subnet", f"{prefix}.0/24", "--gateway", f"{prefix}.1", "--aux-address", f"lanhost={prefix}.2",
                "-o", f"parent={parent or self.parent}", *more)

    def host(self, *argv, check=True):
        return self.daemon.run_on_host(*argv, check=check)

    def ext(self, *argv, check=True):
        return run_in(self.ext_path, *argv, check=check)

    def hairpin(self, on: bool) -> None:
        """A bridge sends a frame back out the port it came in only in hairpin (reflective relay) mode."""
        self.host("ip", "link", "set", "dev", self.port, "type", "bridge_slave", "hairpin", "on" if on else "off")

    def neighbour(self, ip: str) -> str | None:
        out = self.ext("ip", "neigh", "show", ip).stdout.split()
        return out[out.index("lladdr") + 1] if "lladdr" in out else None

    def remove(self) -> None:
        for name in (self.bridge, self.port):
            self.host("ip", "link", "del", name, check=False)


def make_lan(daemon, namespace, prefix: str) -> Lan:
    n = next(_serial)
    bridge, parent, port, ext_port = f"lan{n}", f"uplink{n}", f"lanp{n}", f"lanx{n}"
    ext_path = namespace("cnmlan")
    h = daemon.run_on_host
    h("ip", "link", "add", bridge, "type", "bridge")
    h("ip", "link", "add", parent, "type", "veth", "peer", "name", port)
    h("ip", "link", "add", ext_port, "type", "veth", "peer", "name", "eth0", "netns", ext_path)
    for name in (port, ext_port):
        h("ip", "link", "set", name, "master", bridge)
    for name in (bridge, port, ext_port, parent):
        h("ip", "link", "set", name, "up")
    run_in(ext_path, "ip", "link", "set", "lo", "up")
    run_in(ext_path, "ip", "link", "set", "eth0", "up")
    for host in (1, 2):
        run_in(ext_path, "ip", "addr", "add", f"{prefix}.{host}/24", "dev", "eth0")
    return Lan(daemon, bridge, parent, port, ext_path, prefix)


@pytest.fixture
def lan(cnmd, namespace):
    """A LAN ``prefix``.0/24 whose external host is both the router (.1) and a LAN host (.2)."""
    made = []

    def make(prefix: str) -> Lan:
        result = make_lan(cnmd, namespace, prefix)
        made.append(result)
        return result

    yield make
    for each in made:
        each.remove()


def host_links(daemon) -> dict[str, dict]:
    return {link["ifname"]: link for link in json.loads(daemon.run_on_host("ip", "-j", "-d", "link").stdout)}


def sandbox_link(daemon, name: str, ifname: str = "eth0") -> dict:
    links = json.loads(daemon.run_in_sandbox(name, "ip", "-j", "-d", "link", "show", ifname).stdout)
    return links[0]


def pings(daemon, sandbox: str, ip: str) -> bool:
    return daemon.run_in_sandbox(sandbox, "ping", "-c", "1", "-W", "1", ip, check=False).returncode == 0


CAPTURE = r"""
import socket, sys, time
iface, src, dst, seconds = sys.argv[1], socket.inet_aton(sys.argv[2]), socket.inet_aton(sys.argv[3]), float(sys.argv[4])
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
sock.bind((iface, 0))
sock.settimeout(0.1)
print("ready", flush=True)
seen, end = 0, time.monotonic() + seconds
while time.monotonic() < end:
    try:
        frame = sock.recv(4096)
    except socket.timeout:
        continue
    # IPv4 (ethertype 0x0800), ICMP (protocol 1), from src to dst
    if frame[12:14] == b"\x08\x00" and frame[23] == 1 and frame[26:30] == src and frame[30:34] == dst:
        seen += 1
print(seen, flush=True)
"""


def icmp_seen_on(lan: Lan, src: str, dst: str, action) -> int:
    """ICMP frames from ``src`` to ``dst`` that cross the parent's LAN port while ``action`` runs."""
    capture = subprocess.Popen(
        ["nsenter", f"--net={lan.daemon.netns_path}", sys.executable, "-c", CAPTURE, lan.port, src, dst, "3"],
        stdout=subprocess.PIPE, text=True)
    assert capture.stdout is not None
    try:
        assert capture.stdout.readline().strip() == "ready"
        action()
        return int(capture.stdout.readline())
    finally:
        capture.wait(timeout=10)


def create(daemon, *argv: str) -> str:
    return daemon.cnm("network", "create", "-d", "macvlan", *argv).stdout.strip()


def refused(daemon, *argv: str) -> str:
    result = daemon.cnm(*argv, check=False)
    assert result.returncode == 1, result.stdout
    return result.stderr.strip()


# -- bridge mode: the whole path -----------------------------------------------------


def test_sandboxes_are_hosts_on_the_lan(cnmd, lan):
    net = lan("10.70.1")
    before = host_links(cnmd)
    nid = create(cnmd, *net.options(), "mvlan")
    inspect = cnmd.inspect("network", "mvlan")
    assert inspect["Driver"] == "macvlan" and inspect["Scope"] == "local"
    assert inspect["Options"] == {"parent": net.parent}
    assert inspect["IPAM"]["Config"][0]["AuxiliaryAddresses"] == {"lanhost": "10.70.1.2"}
    cnmd.cnm("sandbox", "create", "--name", "mva", "--network", "mvlan")
    cnmd.cnm("sandbox", "create", "--name", "mvb", "--network", "mvlan")

    # the LAN host's address is reserved: sandboxes start after it
    a = cnmd.inspect("sandbox", "mva")["Networks"]["mvlan"]
    b = cnmd.inspect("sandbox", "mvb")["Networks"]["mvlan"]
    assert (a["IPAddress"], b["IPAddress"]) == ("10.70.1.3", "10.70.1.4")
    # Docker 26's MAC: 02:42 and the IPv4 address
    assert a["MacAddress"] == "02:42:0a:46:01:03" and a["Gateway"] == "10.70.1.1"
    eth0 = sandbox_link(cnmd, "mva")
    assert eth0["linkinfo"]["info_kind"] == "macvlan"
    assert eth0["linkinfo"]["info_data"]["mode"] == "bridge"
    assert eth0["address"] == "02:42:0a:46:01:03"
    assert "default via 10.70.1.1 dev eth0" in cnmd.run_in_sandbox("mva", "ip", "route").stdout
    # no child stays in the daemon's namespace
    assert not [n for n in host_links(cnmd) if n.startswith("macv")]

    assert pings(cnmd, "mva", "10.70.1.2") and pings(cnmd, "mva", "10.70.1.1")
    # bridge mode: siblings meet inside the parent, nothing crosses the LAN port
    net.hairpin(True)
    assert icmp_seen_on(net, "10.70.1.3", "10.70.1.4", lambda: pings(cnmd, "mva", "10.70.1.4")) == 0
    assert pings(cnmd, "mva", "10.70.1.4")

    # the LAN reaches each sandbox at its own MAC
    net.ext("ping", "-c", "1", "-W", "2", "10.70.1.3")
    net.ext("ping", "-c", "1", "-W", "2", "10.70.1.4")
    assert net.neighbour("10.70.1.3") == "02:42:0a:46:01:03"
    assert net.neighbour("10.70.1.4") == "02:42:0a:46:01:04"
    assert net.neighbour("10.70.1.3") != host_links(cnmd)[net.parent]["address"]

    cnmd.cnm("sandbox", "rm", "-f", "mva", "mvb")
    cnmd.cnm("network", "rm", "mvlan")
    after = host_links(cnmd)
    assert set(after) == set(before)
    assert after[net.parent]["operstate"] == "UP"
    assert nid not in json.dumps(after)


def test_mac_address_and_ip_of_the_users_choice(cnmd, lan):
    net = lan("10.70.2")
    create(cnmd, *net.options(), "mvmac")
    cnmd.cnm("sandbox", "create", "--name", "mvm", "--network", "mvmac",
             "--mac-address", "92:d0:c6:0a:29:33", "--ip", "10.70.2.50")
    assert sandbox_link(cnmd, "mvm")["address"] == "92:d0:c6:0a:29:33"
    net.ext("ping", "-c", "1", "-W", "2", "10.70.2.50")
    assert net.neighbour("10.70.2.50") == "92:d0:c6:0a:29:33"
    cnmd.cnm("sandbox", "rm", "-f", "mvm")
    cnmd.cnm("network", "rm", "mvmac")


def test_ipv6_on_the_lan(cnmd, lan):
    net = lan("10.70.21")
    net.ext("ip", "-6", "addr", "add", "fd00:70:21::1/64", "dev", "eth0", "nodad")
    create(cnmd, *net.options("--ipv6", "--subnet", "fd00:70:21::/64", "--gateway", "fd00:70:21::1"), "mvsix")
    cnmd.cnm("sandbox", "create", "--name", "six", "--network", "mvsix")
    six = cnmd.inspect("sandbox", "six")["Networks"]["mvsix"]
    assert six["GlobalIPv6Address"] == "fd00:70:21::2" and six["IPv6Gateway"] == "fd00:70:21::1"
    assert "default via fd00:70:21::1 dev eth0" in cnmd.run_in_sandbox("six", "ip", "-6", "route").stdout
    assert cnmd.run_in_sandbox("six", "ping", "-6", "-c", "1", "-W", "2", "fd00:70:21::1", check=False).returncode == 0
    cnmd.cnm("sandbox", "rm", "-f", "six")
    cnmd.cnm("network", "rm", "mvsix")


# -- the other modes -------------------------------------------------------------------


def test_private_mode_blocks_sandbox_to_sandbox(cnmd, lan):
    net = lan("10.70.3")
    create(cnmd, *net.options("-o", "macvlan_mode=private"), "mvpriv")
    cnmd.cnm("sandbox", "create", "--name", "pra", "--network", "mvpriv")
    cnmd.cnm("sandbox", "create", "--name", "prb", "--network", "mvpriv")
    assert sandbox_link(cnmd, "pra")["linkinfo"]["info_data"]["mode"] == "private"
    assert pings(cnmd, "pra", "10.70.3.2") and pings(cnmd, "prb", "10.70.3.2")
    assert not pings(cnmd, "pra", "10.70.3.4")
    # even when the LAN sends frames back, private children drop their siblings'
    net.hairpin(True)
    assert not pings(cnmd, "pra", "10.70.3.4")
    net.ext("ping", "-c", "1", "-W", "2", "10.70.3.3")
    cnmd.cnm("sandbox", "rm", "-f", "pra", "prb")
    cnmd.cnm("network", "rm", "mvpriv")


def test_vepa_sends_sandbox_to_sandbox_through_the_parent(cnmd, lan):
    net = lan("10.70.4")
    create(cnmd, *net.options("-o", "macvlan_mode=vepa"), "mvvepa")
    cnmd.cnm("sandbox", "create", "--name", "vea", "--network", "mvvepa")
    cnmd.cnm("sandbox", "create", "--name", "veb", "--network", "mvvepa")
    assert sandbox_link(cnmd, "vea")["linkinfo"]["info_data"]["mode"] == "vepa"
    assert pings(cnmd, "vea", "10.70.4.2")
    # a plain bridge never sends a frame back where it came from: siblings are cut off
    assert not pings(cnmd, "vea", "10.70.4.4")
    # a reflective-relay (hairpin) port returns them, and the traffic is seen on the LAN
    net.hairpin(True)
    seen = icmp_seen_on(net, "10.70.4.3", "10.70.4.4", lambda: pings(cnmd, "vea", "10.70.4.4"))
    assert seen >= 2  # the request, out and back in
    assert pings(cnmd, "vea", "10.70.4.4")
    cnmd.cnm("sandbox", "rm", "-f", "vea", "veb")
    cnmd.cnm("network", "rm", "mvvepa")


def test_passthru_gives_the_parent_to_one_sandbox(cnmd, lan):
    net = lan("10.70.5")
    parent_before = host_links(cnmd)[net.parent]
    create(cnmd, *net.options("-o", "macvlan_mode=passthru"), "mvpass")
    cnmd.cnm("sandbox", "create", "--name", "pta", "--network", "mvpass")
    eth0 = sandbox_link(cnmd, "pta")
    assert eth0["linkinfo"]["info_data"]["mode"] == "passthru"
    # the child owns the parent's address; the parent keeps it
    assert eth0["address"] == parent_before["address"]
    assert cnmd.inspect("sandbox", "pta")["Networks"]["mvpass"]["MacAddress"] == parent_before["address"]
    assert host_links(cnmd)[net.parent]["promiscuity"] >= 1
    assert pings(cnmd, "pta", "10.70.5.2")
    assert net.neighbour("10.70.5.3") == parent_before["address"]

    second = refused(cnmd, "sandbox", "create", "--name", "ptb", "--network", "mvpass")
    assert "is in mode passthru: parent interface " + net.parent + " already serves endpoint" in second
    assert "ptb" not in cnmd.cnm("sandbox", "ls").stdout
    nid = cnmd.inspect("network", "mvpass")["Id"]
    shared = refused(cnmd, "network", "create", "-d", "macvlan", "--subnet", "10.70.6.0/24",
                     "-o", f"parent={net.parent}", "mvpass2")
    assert shared == (f"Error response from daemon: macvlan network {nid} is already using parent interface "
                      f"{net.parent} in mode passthru")

    cnmd.cnm("sandbox", "rm", "-f", "pta")
    cnmd.cnm("network", "rm", "mvpass")
    parent_after = host_links(cnmd)[net.parent]
    assert parent_after["address"] == parent_before["address"]
    assert parent_after["promiscuity"] == parent_before["promiscuity"]


# -- parents: shared, internal, VLAN ---------------------------------------------------


def test_networks_share_a_parent_unless_subnets_overlap_or_passthru(cnmd, lan):
    net = lan("10.70.7")
    net.ext("ip", "addr", "add", "10.70.8.2/24", "dev", "eth0")
    create(cnmd, *net.options(), "share1")
    first = cnmd.inspect("network", "share1")["Id"]
    create(cnmd, *net.options(prefix="10.70.8"), "share2")
    cnmd.cnm("sandbox", "create", "--name", "sh1", "--network", "share1")
    cnmd.cnm("sandbox", "create", "--name", "sh2", "--network", "share2")
    assert pings(cnmd, "sh1", "10.70.7.2") and pings(cnmd, "sh2", "10.70.8.2")

    # IPAM refuses a second pool over the same subnet ...
    overlap = refused(cnmd, "network", "create", "-d", "macvlan", "--subnet", "10.70.7.0/24",
                      "-o", f"parent={net.parent}", "share3")
    assert "Pool overlaps with other one on this address space" in overlap
    # ... but lets an --ip-range through (Docker's rule); on one parent the driver refuses it
    overlap = refused(cnmd, "network", "create", "-d", "macvlan", "--subnet", "10.70.7.0/24",
                      "--ip-range", "10.70.7.128/25", "-o", f"parent={net.parent}", "share3")
    assert overlap == (f"Error response from daemon: macvlan network {first} is already using parent interface "
                       f"{net.parent} with subnet 10.70.7.0/24, which overlaps 10.70.7.0/24")
    passthru = refused(cnmd, "network", "create", "-d", "macvlan", "--subnet", "10.70.9.0/24",
                       "-o", f"parent={net.parent}", "-o", "macvlan_mode=passthru", "share3")
    assert passthru.startswith("Error response from daemon: cannot use mode passthru, macvlan network ")
    assert passthru.endswith(f" is already using parent interface {net.parent}")
    assert "share3" not in cnmd.cnm("network", "ls").stdout

    cnmd.cnm("sandbox", "rm", "-f", "sh1", "sh2")
    cnmd.cnm("network", "rm", "share1")
    assert net.parent in host_links(cnmd)
    cnmd.cnm("network", "rm", "share2")
    assert net.parent in host_links(cnmd)


def test_internal_network_without_parent(cnmd):
    before = host_links(cnmd)
    nid = create(cnmd, "--internal", "--subnet", "10.70.10.0/24", "mvint")
    placeholder = f"dm-{nid[:12]}"
    link = host_links(cnmd)[placeholder]
    # Docker makes a dummy link; a kernel without one gets a veth pair whose peer goes nowhere
    assert link["linkinfo"]["info_kind"] == ("dummy" if kernel_has("dummy") else "veth")
    cnmd.cnm("sandbox", "create", "--name", "ia", "--network", "mvint")
    cnmd.cnm("sandbox", "create", "--name", "ib", "--network", "mvint")
    assert pings(cnmd, "ia", "10.70.10.3")
    assert "default" not in cnmd.run_in_sandbox("ia", "ip", "route").stdout
    assert cnmd.inspect("sandbox", "ia")["Networks"]["mvint"]["Gateway"] == ""
    cnmd.cnm("sandbox", "rm", "-f", "ia", "ib")
    cnmd.cnm("network", "rm", "mvint")
    # <=, not ==: a LAN veth of an earlier test can still be in ``before`` and go
    # meanwhile (its peer's namespace is torn down by the kernel asynchronously).
    assert set(host_links(cnmd)) <= set(before)


def test_no_parent_is_internal_even_without_the_flag(cnmd):
    nid = create(cnmd, "--subnet", "10.70.11.0/24", "mvnopar")
    cnmd.cnm("sandbox", "create", "--name", "np", "--network", "mvnopar")
    assert "default" not in cnmd.run_in_sandbox("np", "ip", "route").stdout
    cnmd.cnm("sandbox", "rm", "-f", "np")
    cnmd.cnm("network", "rm", "mvnopar")
    assert f"dm-{nid[:12]}" not in host_links(cnmd)


def test_internal_network_on_a_parent_has_no_default_route(cnmd, lan):
    net = lan("10.70.12")
    create(cnmd, *net.options("--internal"), "mvintp")
    cnmd.cnm("sandbox", "create", "--name", "ip1", "--network", "mvintp")
    assert "default" not in cnmd.run_in_sandbox("ip1", "ip", "route").stdout
    assert pings(cnmd, "ip1", "10.70.12.2")  # still on the LAN's segment
    cnmd.cnm("sandbox", "rm", "-f", "ip1")
    cnmd.cnm("network", "rm", "mvintp")
    assert net.parent in host_links(cnmd)


def test_vlan_parent_is_made_and_removed(cnmd, lan):
    if not kernel_has("vlan"):
        pytest.skip("this kernel has no 802.1q (vlan link) support")
    net = lan("10.70.13")
    # the external host sits on VLAN 13 of the LAN
    net.ext("ip", "link", "add", "link", "eth0", "name", "eth0.13", "type", "vlan", "id", "13")
    net.ext("ip", "addr", "add", "10.70.14.2/24", "dev", "eth0.13")
    net.ext("ip", "link", "set", "eth0.13", "up")
    create(cnmd, *net.options(parent=f"{net.parent}.13", prefix="10.70.14"), "mvvlan")
    vlan = host_links(cnmd)[f"{net.parent}.13"]
    assert vlan["linkinfo"]["info_kind"] == "vlan" and vlan["linkinfo"]["info_data"]["id"] == 13
    create(cnmd, "--subnet", "10.70.15.0/24", "-o", f"parent={net.parent}.13", "mvvlan2")
    cnmd.cnm("sandbox", "create", "--name", "vl", "--network", "mvvlan")
    assert pings(cnmd, "vl", "10.70.14.2")
    cnmd.cnm("sandbox", "rm", "-f", "vl")
    # the sub-interface stays while another network uses it
    cnmd.cnm("network", "rm", "mvvlan")
    assert f"{net.parent}.13" in host_links(cnmd)
    cnmd.cnm("network", "rm", "mvvlan2")
    assert f"{net.parent}.13" not in host_links(cnmd)
    # a sub-interface the user made is the user's
    net.host("ip", "link", "add", "link", net.parent, "name", f"{net.parent}.14", "type", "vlan", "id", "14")
    create(cnmd, "--subnet", "10.70.16.0/24", "-o", f"parent={net.parent}.14", "mvvlan3")
    cnmd.cnm("network", "rm", "mvvlan3")
    assert f"{net.parent}.14" in host_links(cnmd)


def test_vlan_parent_without_kernel_support_is_a_clear_error(cnmd, lan):
    if kernel_has("vlan"):
        pytest.skip("this kernel has 802.1q: test_vlan_parent_is_made_and_removed covers it")
    net = lan("10.70.17")
    before = host_links(cnmd)
    message = refused(cnmd, "network", "create", "-d", "macvlan", "--subnet", "10.70.17.0/24",
                      "-o", f"parent={net.parent}.17", "mvnovlan")
    assert message == (f"Error response from daemon: cannot create the 802.1q sub-interface {net.parent}.17: "
                       "this kernel has no VLAN (802.1q) support (the vlan link type is not available); "
                       "use an existing parent interface instead")
    assert host_links(cnmd).keys() == before.keys()
    assert "mvnovlan" not in cnmd.cnm("network", "ls").stdout


# -- errors -----------------------------------------------------------------------------------


def test_errors_have_docker_texts_and_leave_nothing(cnmd, lan):
    net = lan("10.70.18")
    before = host_links(cnmd)
    cases = [
        (["-o", "parent=nope0"], "the requested parent interface nope0 was not found on the Docker host"),
        (["-o", "parent=lo"], "loopback interface is not a valid macvlan parent link"),
        (["-o", f"parent={net.parent}", "-o", "macvlan_mode=l3"],
         "requested macvlan mode 'l3' is not valid, 'bridge' mode is the macvlan driver default"),
        (["-o", "parent=nope0.10"], "-o parent interface was not found on the host: nope0"),
        (["-o", f"parent={net.parent}.1.2"],
         "required interface name format is: name.vlan_id, ex. eth0.10 for vlan 10, "
         f"instead received {net.parent}.1.2"),
        (["-o", f"parent={net.parent}.ten"], "unable to parse a valid vlan id from: ten (ex. eth0.10 for vlan 10)"),
        (["-o", f"parent={net.parent}.4095"], "vlan id must be between 1-4094, received: 4095"),
        (["-o", "parent=averyveryverylongname"],
         "parent interface name averyveryverylongname is longer than 15 characters"),
    ]
    for options, message in cases:
        got = refused(cnmd, "network", "create", "-d", "macvlan", "--subnet", "10.70.18.0/24", *options, "mverr")
        assert got == f"Error response from daemon: {message}", options
    assert "mverr" not in cnmd.cnm("network", "ls").stdout
    assert host_links(cnmd).keys() == before.keys()

    # the parent vanished after the network was made: connecting says so, and leaves nothing
    create(cnmd, *net.options(), "mvgone")
    net.host("ip", "link", "del", net.parent)
    got = refused(cnmd, "sandbox", "create", "--name", "orphan", "--network", "mvgone")
    assert got == (f"Error response from daemon: the requested parent interface {net.parent} "
                   "was not found on the Docker host")
    assert "orphan" not in cnmd.cnm("sandbox", "ls").stdout
    assert not [n for n in host_links(cnmd) if n.startswith("macv")]
    cnmd.cnm("network", "rm", "mvgone")


# -- restart ------------------------------------------------------------------------------------


def test_restart_keeps_children_in_their_sandboxes(fresh_cnmd, namespace):
    d = fresh_cnmd
    net = make_lan(d, namespace, "10.70.19")
    create(d, *net.options("-o", "macvlan_mode=passthru"), "rpass")
    nid = create(d, "--internal", "--subnet", "10.70.20.0/24", "rint")
    d.cnm("sandbox", "create", "--name", "r1", "--network", "rpass", "--network", "rint")
    d.cnm("sandbox", "create", "--name", "r2", "--network", "rint")
    d.stop()
    d.start()
    # join ran again: no second child in the host, none refused by the passthru parent
    assert not [n for n in host_links(d) if n.startswith("macv")]
    assert "endpoint restore failed" not in d.log()
    assert sorted(link["ifname"] for link in json.loads(d.run_in_sandbox("r1", "ip", "-j", "link").stdout)) == \
        ["eth0", "eth1", "lo"]
    assert pings(d, "r1", "10.70.19.2") and pings(d, "r2", "10.70.20.2")
    # after a restart the driver still knows which parent it made
    d.cnm("sandbox", "rm", "-f", "r1", "r2")
    d.cnm("network", "rm", "rpass", "rint")
    links = host_links(d)
    assert f"dm-{nid[:12]}" not in links and net.parent in links
    net.remove()


def test_start_removes_links_no_record_asks_for(fresh_cnmd, namespace):
    d = fresh_cnmd
    net = make_lan(d, namespace, "10.70.22")
    nid = create(d, "--internal", "--subnet", "10.70.22.0/24", "lost")
    d.stop()
    # the records are gone (a lost data root), and a crash left a child between join and move
    for name in os.listdir(d.data_root):
        if name.startswith("state.db"):
            os.remove(os.path.join(d.data_root, name))
    d.run_on_host("ip", "link", "add", "link", net.parent, "name", "macvdeadbee", "type", "macvlan")
    d.run_on_host("ip", "link", "set", "macvdeadbee", "alias", "cnm-macvlan-child:deadbeef")
    d.run_on_host("ip", "link", "add", "link", net.parent, "name", "usermv0", "type", "macvlan")
    d.start()
    links = host_links(d)
    assert f"dm-{nid[:12]}" not in links and "macvdeadbee" not in links
    # links the daemon did not make stay
    assert "usermv0" in links and net.parent in links
    net.remove()
