"""macvlan option parsing and parent sharing: pure logic, Docker's texts."""

import ipaddress
from dataclasses import dataclass

import pytest

from libnetwork.drivers.api import NetworkConfig, SubnetData
from libnetwork.drivers.macvlan.config import (
    MacvlanConfig,
    VlanName,
    check_vlan_id,
    parse_options,
    parse_vlan_name,
)
from libnetwork.drivers.macvlan.driver import child_name, mac_from_ipv4
from libnetwork.drivers.macvlan.sharing import check_sharing
from libnetwork.errors import Forbidden, InvalidParameter

NID = "0123456789abcdef" * 4


def test_defaults_and_modes():
    assert parse_options(NID, {"parent": "eth0"}) == MacvlanConfig(parent="eth0", mode="bridge")
    for mode in ("bridge", "private", "vepa", "passthru"):
        assert parse_options(NID, {"parent": "eth0", "macvlan_mode": mode}).mode == mode
    # an empty -o macvlan_mode= is the default, as in Docker
    assert parse_options(NID, {"parent": "eth0", "macvlan_mode": ""}).mode == "bridge"


def test_no_parent_is_a_placeholder_of_the_network():
    cfg = parse_options(NID, {})
    assert cfg.parent == "dm-0123456789ab" and cfg.placeholder


def test_bad_options_have_docker_text():
    with pytest.raises(InvalidParameter,
                       match="requested macvlan mode 'l2' is not valid, 'bridge' mode is the macvlan"):
        parse_options(NID, {"parent": "eth0", "macvlan_mode": "l2"})
    with pytest.raises(InvalidParameter, match="loopback interface is not a valid macvlan parent link"):
        parse_options(NID, {"parent": "lo"})
    with pytest.raises(InvalidParameter, match="longer than 15"):
        parse_options(NID, {"parent": "a" * 16})


def test_vlan_names():
    assert parse_vlan_name("eth0.10") == VlanName("eth0", 10)
    with pytest.raises(InvalidParameter, match="parent interface eth9 was not found"):
        parse_vlan_name("eth9")
    with pytest.raises(InvalidParameter, match="required interface name format is: name.vlan_id"):
        parse_vlan_name("eth0.1.2")
    with pytest.raises(InvalidParameter, match=r"unable to parse a valid vlan id from: x1 \(ex. eth0.10"):
        parse_vlan_name("eth0.x1")
    with pytest.raises(InvalidParameter, match="unable to parse"):
        parse_vlan_name("eth0.")
    for vid in (0, 4095, -3):
        with pytest.raises(InvalidParameter, match=f"vlan id must be between 1-4094, received: {vid}"):
            check_vlan_id(parse_vlan_name(f"eth0.{vid}"))
    check_vlan_id(VlanName("eth0", 4094))


def test_mac_and_child_names():
    assert mac_from_ipv4(ipaddress.ip_address("192.168.1.20")) == "02:42:c0:a8:01:14"
    assert child_name(NID) == "macv0123456" and len(child_name(NID)) <= 15


@dataclass
class _Net:
    config: NetworkConfig
    macvlan: MacvlanConfig


def _net(nid, subnet, parent="eth0", mode="bridge"):
    config = NetworkConfig(nid=nid, name=nid, ipv4=(SubnetData(ipaddress.ip_network(subnet)),))
    return config, MacvlanConfig(parent=parent, mode=mode)


def test_sharing_a_parent():
    first = _Net(*_net("a", "10.0.0.0/24"))
    check_sharing(*_net("b", "10.0.1.0/24"), [first])
    check_sharing(*_net("b", "10.0.0.0/24", parent="eth1"), [first])
    # a network is checked again at every restart: never against itself
    check_sharing(first.config, first.macvlan, [first])
    with pytest.raises(Forbidden, match="macvlan network a is already using parent interface eth0 with subnet "
                                        "10.0.0.0/24, which overlaps 10.0.0.128/25"):
        check_sharing(*_net("b", "10.0.0.128/25"), [first])
    with pytest.raises(Forbidden, match="cannot use mode passthru, macvlan network a is already using parent "
                                        "interface eth0"):
        check_sharing(*_net("b", "10.0.1.0/24", mode="passthru"), [first])
    passthru = _Net(*_net("p", "10.0.2.0/24", mode="passthru"))
    with pytest.raises(Forbidden, match="macvlan network p is already using parent interface eth0 in mode passthru"):
        check_sharing(*_net("b", "10.0.1.0/24"), [passthru])
