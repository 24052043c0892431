"""The overlay driver without a kernel: option parsing and its errors, the peer table, and what the
driver refuses before it touches anything (no root needed)."""

from __future__ import annotations

import ipaddress

import pytest

from libnetwork.drivers.api import (
    GLOBAL_SCOPE,
    Cleanable,
    Driver,
    DriverContext,
    EndpointConfig,
    NetworkConfig,
    NodeDiscovery,
    Peer,
    PeerProgramming,
    Restorable,
    SandboxInfo,
    SubnetData,
)
from libnetwork.drivers.overlay import create_driver
from libnetwork.drivers.overlay.config import OverlayConfig, parse_options
from libnetwork.drivers.overlay.driver import NOT_IN_SWARM, mac_from_ipv4
from libnetwork.drivers.overlay.peers import PeerTable
from libnetwork.errors import Forbidden, InvalidParameter, NotFound, Unavailable

NID = "0123456789abcdef" * 4
VNI_KEY = "com.docker.network.driver.overlay.vxlanid_list"
SUBNET = SubnetData(subnet=ipaddress.ip_network("10.0.9.0/24"), gateway=ipaddress.ip_interface("10.0.9.1/24"))


def network(options: dict[str, str] | None = None, nid: str = NID, **fields) -> NetworkConfig:
    opts = {VNI_KEY: "4097"} if options is None else options
    return NetworkConfig(nid=nid, name="ov", options=opts, ipv4=fields.pop("ipv4", (SUBNET,)), **fields)


def parse(options: dict[str, str] | None = None, mtu: int = 1500, **fields) -> OverlayConfig:
    return parse_options(network(options, **fields), underlay_mtu=mtu)


# -- options ----------------------------------------------------------------------------------

def test_defaults_follow_the_underlay():
    assert parse() == OverlayConfig(vni=4097, mtu=1450, dstport=4789, encrypted=False,
                                    gateway=ipaddress.IPv4Interface("10.0.9.1/24"))
    assert parse(mtu=9000).mtu == 8950


def test_every_option():
    config = parse({VNI_KEY: " 16777215", "com.docker.network.driver.mtu": "1400", "cnm.overlay.dstport": "8472"})
    # as Docker: the option is the underlay's MTU, VXLAN's 50 bytes come off it
    assert (config.vni, config.mtu, config.dstport) == (16777215, 1350, 8472)


def test_encrypted_is_on_by_presence_as_in_docker():
    for value in ("", "true", "whatever"):
        assert parse({VNI_KEY: "1", "encrypted": value}).encrypted


@pytest.mark.parametrize("options, text", [
    ({}, "has no VXLAN ID: option com.docker.network.driver.overlay.vxlanid_list is required"),
    ({VNI_KEY: ""}, "expected VNIs separated by commas"),
    ({VNI_KEY: "abc"}, "a VNI must be a decimal number"),
    ({VNI_KEY: "-5"}, "a VNI must be a decimal number"),
    ({VNI_KEY: "0"}, "a VNI must be between 1 and 16777215"),
    ({VNI_KEY: "16777216"}, "a VNI must be between 1 and 16777215"),
    ({VNI_KEY: "4097,"}, "expected VNIs separated by commas"),
    ({VNI_KEY: "4097,4098"}, "one VNI per IPv4 subnet"),
    ({VNI_KEY: "1", "com.docker.network.driver.mtu": "67"}, "the MTU must be between 118 and 65535"),
    ({VNI_KEY: "1", "com.docker.network.driver.mtu": "big"}, "the MTU must be a decimal number"),
    ({VNI_KEY: "1", "cnm.overlay.dstport": "0"}, "a UDP port must be between 1 and 65535"),
    ({VNI_KEY: "1", "cnm.overlay.dstport": "65536"}, "a UDP port must be between 1 and 65535"),
])
def test_bad_options_are_refused_with_a_clear_text(options, text):
    with pytest.raises(InvalidParameter, match=text):
        parse(options)


def test_subnets():
    with pytest.raises(InvalidParameter, match="ipv4 pool is empty"):
        parse(ipv4=())
    second = SubnetData(subnet=ipaddress.ip_network("10.0.10.0/24"))
    with pytest.raises(Forbidden, match="one IPv4 subnet"):
        parse(ipv4=(SUBNET, second))
    v6 = SubnetData(subnet=ipaddress.ip_network("fd00:9::/64"), gateway=ipaddress.ip_interface("fd00:9::1/64"))
    assert parse(ipv6=(v6,), enable_ipv6=True).gateway_v6 == ipaddress.IPv6Interface("fd00:9::1/64")
    assert parse(ipv6=(v6,)).gateway_v6 is None


def test_an_underlay_too_small_for_vxlan():
    with pytest.raises(InvalidParameter, match="leaves no room"):
        parse(mtu=100)


# -- the peer table -------------------------------------------------------------------------------

VTEP1, VTEP2, LOCAL = (ipaddress.IPv4Address(a) for a in ("192.168.20.12", "192.168.20.13", "192.168.10.11"))


def peer(eid: str, ip: str, mac: str, vtep: ipaddress.IPv4Address) -> Peer:
    return Peer(eid, ipaddress.ip_interface(ip), mac, vtep)


def test_the_newest_peer_wins_a_key_and_the_older_comes_back_when_it_goes():
    table = PeerTable()
    old = peer("old", "10.0.9.3/24", "02:42:0A:00:09:03", VTEP1)
    new = peer("new", "10.0.9.3/24", "02:42:0a:00:09:03", VTEP2)
    assert table.add(old) is None
    assert table.vtep_for("02:42:0a:00:09:03", LOCAL) == VTEP1
    table.add(new)
    assert table.vtep_for("02:42:0a:00:09:03", LOCAL) == VTEP2
    assert table.mac_for(ipaddress.ip_address("10.0.9.3"), LOCAL) == "02:42:0a:00:09:03"
    # The late removal of the old endpoint leaves the new one's entries.
    table.remove("old", ipaddress.ip_address("10.0.9.3"))
    assert table.vtep_for("02:42:0a:00:09:03", LOCAL) == VTEP2
    table.add(old)
    table.remove("old", ipaddress.ip_address("10.0.9.3"))
    assert table.desired(LOCAL).fdb == {"02:42:0a:00:09:03": VTEP2}
    table.remove("new", ipaddress.ip_address("10.0.9.3"))
    assert table.vtep_for("02:42:0a:00:09:03", LOCAL) is None and len(table) == 0


def test_a_moved_endpoint_answers_what_it_replaced():
    table = PeerTable()
    first = peer("e", "10.0.9.3/24", "02:42:0a:00:09:03", VTEP1)
    table.add(first)
    assert table.add(first) is None
    assert table.add(peer("e", "10.0.9.3/24", "02:42:0a:00:09:03", VTEP2)) == first


def test_desired_entries_leave_out_this_node_and_keep_dual_stack_endpoints_together():
    table = PeerTable()
    table.replace_all([
        peer("a", "10.0.9.3/24", "02:42:0a:00:09:03", VTEP1),
        peer("a", "fd00:9::3/64", "02:42:0a:00:09:03", VTEP1),
        peer("mine", "10.0.9.2/24", "02:42:0a:00:09:02", LOCAL),
    ])
    desired = table.desired(LOCAL)
    assert desired.fdb == {"02:42:0a:00:09:03": VTEP1}
    assert desired.neighbours == {ipaddress.ip_address("10.0.9.3"): "02:42:0a:00:09:03",
                                  ipaddress.ip_address("fd00:9::3"): "02:42:0a:00:09:03"}
    # The IPv6 half gone, the MAC is still needed by the IPv4 half.
    table.remove("a", ipaddress.ip_address("fd00:9::3"))
    assert table.vtep_for("02:42:0a:00:09:03", LOCAL) == VTEP1
    table.replace_all([])
    assert table.desired(LOCAL).fdb == {}


# -- the driver before any kernel step --------------------------------------------------------------

@pytest.fixture
def driver(tmp_path):
    return create_driver(DriverContext(data_root=str(tmp_path / "data"), exec_root=str(tmp_path / "exec")))


def test_contract_and_capabilities(driver):
    for protocol in (Driver, NodeDiscovery, PeerProgramming, Cleanable, Restorable):
        assert isinstance(driver, protocol)
    caps = driver.capabilities()
    assert (caps.scope, caps.connectivity_scope, caps.restore_by_replay) == (GLOBAL_SCOPE, GLOBAL_SCOPE, True)


def test_join_needs_the_data_path_address(driver):
    driver.create_network(network())
    ipv4 = ipaddress.IPv4Interface("10.0.9.2/24")
    assert driver.create_endpoint(EndpointConfig(nid=NID, eid="e" * 64, ipv4=ipv4)).mac == "02:42:0a:00:09:02"
    with pytest.raises(Unavailable, match=NOT_IN_SWARM):
        driver.join(NID, "e" * 64, SandboxInfo(sid="s", netns_path="/nonexistent"))
    driver.discover_new("192.168.10.11", "", self_node=False)   # another node: not ours
    assert driver.vtep is None
    driver.discover_new("192.168.10.11", "10.99.0.1", self_node=True)
    assert driver.vtep == ipaddress.IPv4Address("10.99.0.1")
    with pytest.raises(InvalidParameter, match="IPv4 data path address"):
        driver.discover_new("fd00::1", "", self_node=True)


def test_endpoints_and_networks_refused_before_the_kernel(driver):
    with pytest.raises(NotFound):
        driver.create_endpoint(EndpointConfig(nid=NID, eid="e" * 64, ipv4=ipaddress.IPv4Interface("10.0.9.2/24")))
    driver.create_network(network())
    driver.create_network(network())   # a replay
    with pytest.raises(InvalidParameter, match="not passed interface IP address"):
        driver.create_endpoint(EndpointConfig(nid=NID, eid="e" * 64))
    given = driver.create_endpoint(EndpointConfig(nid=NID, eid="f" * 64, ipv4=ipaddress.IPv4Interface("10.0.9.3/24"),
                                                  mac="02:AA:00:00:00:01"))
    assert given.mac == "02:aa:00:00:00:01"
    with pytest.raises(Forbidden, match="VNI 4097 is in use by network"):
        driver.create_network(network(nid="9" * 64))
    assert mac_from_ipv4(ipaddress.IPv4Address("192.168.1.20")) == "02:42:c0:a8:01:14"


def test_peers_told_before_any_endpoint_are_remembered(driver):
    driver.discover_new("192.168.10.11", self_node=True)
    remote = ("r", ipaddress.ip_interface("10.0.9.3/24"), "02:42:0A:00:09:03", ipaddress.IPv4Address("192.168.20.12"))
    driver.add_peer(NID, *remote)
    driver.add_peer(NID, "mine", ipaddress.ip_interface("10.0.9.2/24"), "02:42:0a:00:09:02",
                    ipaddress.IPv4Address("192.168.10.11"))
    assert [p.eid for p in driver.peers[NID]] == ["r"]
    driver.remove_peer(NID, *remote)
    driver.remove_peer(NID, *remote)
    assert len(driver.peers[NID]) == 0
