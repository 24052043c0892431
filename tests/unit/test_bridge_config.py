import ipaddress

import pytest

from libnetwork.drivers.bridge.config import parse_options
from libnetwork.drivers.bridge.steps import mac_from_ipv4, veth_names
from libnetwork.errors import InvalidParameter


def test_defaults_and_names():
    cfg = parse_options("0123456789abcdef", {}, default_mtu=1500)
    assert cfg.bridge_name == "br-0123456789ab" and cfg.mtu == 1500 and cfg.enable_icc
    assert parse_options("x", {}, default_mtu=1500, default_bridge_name="cnm0").bridge_name == "cnm0"
    assert parse_options("x", {"com.docker.network.bridge.name": "mybr"}, default_mtu=1500).bridge_name == "mybr"


def test_bad_values_have_docker_text():
    with pytest.raises(InvalidParameter, match="failed to parse com.docker.network.bridge.enable_icc value: maybe"):
        parse_options("x", {"com.docker.network.bridge.enable_icc": "maybe"}, default_mtu=1500)
    with pytest.raises(InvalidParameter, match="failed to parse com.docker.network.driver.mtu"):
        parse_options("x", {"com.docker.network.driver.mtu": "big"}, default_mtu=1500)
    with pytest.raises(InvalidParameter, match="longer than 15"):
        parse_options("x", {"com.docker.network.bridge.name": "a" * 16}, default_mtu=1500)


def test_mac_and_veth_names():
    assert mac_from_ipv4(ipaddress.ip_address("172.19.0.2")) == "02:42:ac:13:00:02"
    host, peer = veth_names("abcdef0123")
    assert host == "vethabcdef0" and len(peer) <= 15
