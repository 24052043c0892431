"""IPAM request validation and static-address checks, with Docker's texts."""

from __future__ import annotations

import ipaddress

import pytest

from libnetwork import errors
from libnetwork.ipam.config import (
    IpamSpec,
    StaticAddresses,
    SubnetSpec,
    parse_ipam,
    validate_endpoint_ipam,
)

net = ipaddress.ip_network
ip = ipaddress.ip_address


def message(ipam, ipv6=False) -> str:
    with pytest.raises(errors.InvalidParameter) as exc:
        parse_ipam(ipam, ipv6)
    assert exc.value.status == 400
    return exc.value.message


# -- Docker's own cases (moby:v26.1.5:api/types/network/ipam_test.go) --------------


def test_ip_version_mismatch():
    cfg = {
        "Subnet": "10.10.10.0/24",
        "IPRange": "2001:db8::/32",
        "Gateway": "2001:db8::1",
        "AuxiliaryAddresses": {"DefaultGatewayIPv4": "2001:db8::1"},
    }
    assert message({"Config": [cfg]}) == (
        "invalid network config:\n"
        "* invalid ip-range 2001:db8::/32: parent subnet is an IPv4 block\n"
        "* invalid gateway 2001:db8::1: parent subnet is an IPv4 block\n"
        "* invalid auxiliary address DefaultGatewayIPv4: parent subnet is an IPv4 block"
    )


def test_single_error_has_no_bullet():
    assert message({"Config": [{"Subnet": "foobar"}]}) == (
        "invalid network config:\ninvalid subnet foobar: invalid CIDR block notation"
    )


def test_invalid_data():
    cfg = {
        "Subnet": "10.10.10.0/24",
        "IPRange": "foobar",
        "Gateway": "1001.10.5.3",
        "AuxiliaryAddresses": {"DefaultGatewayIPv4": "dummy"},
    }
    assert message({"Config": [cfg]}) == (
        "invalid network config:\n"
        "* invalid ip-range foobar: invalid CIDR block notation\n"
        "* invalid gateway 1001.10.5.3: invalid address\n"
        "* invalid auxiliary address DefaultGatewayIPv4: invalid address"
    )


def test_ip_range_bigger_than_subnet():
    assert message({"Config": [{"Subnet": "10.10.10.0/24", "IPRange": "10.0.0.0/8"}]}) == (
        "invalid network config:\n"
        "invalid ip-range 10.0.0.0/8: CIDR block is bigger than its parent subnet 10.10.10.0/24"
    )


def test_out_of_range_prefix_and_addresses():
    cfg = {
        "Subnet": "10.0.0.0/8",
        "IPRange": "192.168.0.1/24",
        "Gateway": "192.168.0.1",
        "AuxiliaryAddresses": {"DefaultGatewayIPv4": "192.168.0.1"},
    }
    assert message({"Config": [cfg]}) == (
        "invalid network config:\n"
        "* invalid ip-range 192.168.0.1/24: it should be 192.168.0.0/24\n"
        "* invalid ip-range 192.168.0.1/24: parent subnet 10.0.0.0/8 doesn't contain ip-range\n"
        "* invalid gateway 192.168.0.1: parent subnet 10.0.0.0/8 doesn't contain this address\n"
        "* invalid auxiliary address DefaultGatewayIPv4: parent subnet 10.0.0.0/8 doesn't contain this address"
    )


def test_host_bits_set():
    assert message({"Config": [{"Subnet": "10.10.10.0/8"}]}) == (
        "invalid network config:\ninvalid subnet 10.10.10.0/8: it should be 10.0.0.0/8"
    )
    assert message({"Config": [{"Subnet": "10.0.0.0/8", "IPRange": "10.10.10.0/16"}]}) == (
        "invalid network config:\ninvalid ip-range 10.10.10.0/16: it should be 10.10.0.0/16"
    )


def test_errors_of_several_entries_are_collected():
    got = message({"Config": [{"Subnet": "10.1.0.0/16", "Gateway": "10.2.0.1"}, {"Subnet": "nope"}]})
    assert got == (
        "invalid network config:\n"
        "* invalid gateway 10.2.0.1: parent subnet 10.1.0.0/16 doesn't contain this address\n"
        "* invalid subnet nope: invalid CIDR block notation"
    )


def test_empty_and_valid_ipam():
    assert parse_ipam(None, False) == IpamSpec()
    assert parse_ipam({}, False) == IpamSpec()
    assert parse_ipam({"Driver": "", "Options": None, "Config": None}, False).driver == "default"
    spec = parse_ipam(
        {
            "Driver": "default",
            "Options": {"com.docker.network.ipam.serial": "true"},
            "Config": [
                {
                    "Subnet": "10.0.0.0/8",
                    "IPRange": "10.10.0.0/16",
                    "Gateway": "10.10.0.1",
                    "AuxiliaryAddresses": {"DefaultGatewayIPv4": "10.10.0.1"},
                }
            ],
        },
        False,
    )
    assert spec.options == {"com.docker.network.ipam.serial": "true"}
    (v4,) = spec.v4
    aux = {"DefaultGatewayIPv4": ip("10.10.0.1")}
    assert v4 == SubnetSpec(net("10.0.0.0/8"), net("10.10.0.0/16"), ip("10.10.0.1"), aux)
    assert v4.validated and spec.v6 == ()
    assert v4.to_docker() == {
        "Subnet": "10.0.0.0/8",
        "IPRange": "10.10.0.0/16",
        "Gateway": "10.10.0.1",
        "AuxiliaryAddresses": {"DefaultGatewayIPv4": "10.10.0.1"},
    }
    assert hash(v4) == hash(SubnetSpec(net("10.0.0.0/8"), net("10.10.0.0/16"), ip("10.10.0.1")))


# -- IPv6 without EnableIPv6 --------------------------------------------------------


def test_ipv6_entries_are_kept_unvalidated_when_ipv6_is_off():
    cfg = {"Subnet": "2001:db8::1/32", "Gateway": "10.0.0.1", "IPRange": "2001:db8::/48"}
    spec = parse_ipam({"Config": [cfg]}, False)
    (v6,) = spec.v6
    assert v6 == SubnetSpec(net("2001:db8::/32"), net("2001:db8::/48"), None, {}, validated=False)
    assert message({"Config": [cfg]}, ipv6=True) == (
        "invalid network config:\n"
        "* invalid subnet 2001:db8::1/32: it should be 2001:db8::/32\n"
        "* invalid gateway 10.0.0.1: parent subnet is an IPv6 block"
    )


def test_unparsable_ipv6_subnet_fails_even_with_ipv6_off():
    assert message({"Config": [{"Subnet": "2001:db8::/129"}]}) == (
        "invalid network config:\ninvalid subnet 2001:db8::/129: invalid CIDR block notation"
    )


def test_dual_stack_split_by_family():
    spec = parse_ipam({"Config": [{"Subnet": "fd00:1::/64", "Gateway": "fd00:1::1"}, {"Subnet": "10.3.0.0/16"}]}, True)
    assert [str(s.subnet) for s in spec.v4] == ["10.3.0.0/16"]
    assert [(str(s.subnet), str(s.gateway)) for s in spec.v6] == [("fd00:1::/64", "fd00:1::1")]


# -- Go parser strictness -----------------------------------------------------------


@pytest.mark.parametrize(
    "subnet",
    [
        "10.0.0.0",
        "10.0.0.0/255.255.0.0",
        "10.0.0.0/024",
        "10.0.0.0/33",
        "fe80::%eth0/64",
        "010.0.0.0/8",
        "10.0.0.0/",
        " 10.0.0.0/8",
    ],
)
def test_prefix_forms_go_rejects(subnet):
    assert message({"Config": [{"Subnet": subnet}]}) == (
        f"invalid network config:\ninvalid subnet {subnet}: invalid CIDR block notation"
    )


def test_zoned_gateway_is_parsed_but_never_contained():
    got = message({"Config": [{"Subnet": "fe80::/64", "Gateway": "fe80::1%eth0"}]}, ipv6=True)
    assert got == (
        "invalid network config:\ninvalid gateway fe80::1%eth0: parent subnet fe80::/64 doesn't contain this address"
    )
    got = message({"Config": [{"Subnet": "10.0.0.0/8", "Gateway": "10.0.0.1%eth0"}]})
    assert got == "invalid network config:\ninvalid gateway 10.0.0.1%eth0: invalid address"


def test_ipv4_mapped_prefix_is_printed_like_go():
    got = message({"Config": [{"Subnet": "::ffff:10.0.0.1/120"}]}, ipv6=True)
    assert got == "invalid network config:\ninvalid subnet ::ffff:10.0.0.1/120: it should be ::ffff:10.0.0.0/120"


def test_wrong_json_types():
    expected = (
        r"^invalid JSON: json: cannot unmarshal number into Go struct field "
        r"IPAMConfig.IPAM.Config.Subnet of type string$"
    )
    with pytest.raises(errors.InvalidParameter, match=expected):
        parse_ipam({"Config": [{"Subnet": 10}]}, False)
    with pytest.raises(errors.InvalidParameter, match="cannot unmarshal object into Go struct field IPAM.IPAM.Config"):
        parse_ipam({"Config": {"Subnet": "10.0.0.0/8"}}, False)
    with pytest.raises(errors.InvalidParameter, match="map\\[string\\]string"):
        parse_ipam({"Options": ["a"]}, False)


# -- endpoint static addresses -------------------------------------------------------

V4 = (SubnetSpec(net("192.168.100.0/24"), net("192.168.100.128/25")),)
V6 = (SubnetSpec(net("2a01:d2:af:420b::/64")),)


def endpoint_error(cfg, v4=V4, v6=V6, **kw) -> str:
    with pytest.raises(errors.InvalidParameter) as exc:
        validate_endpoint_ipam(cfg, v4, v6, **kw)
    assert exc.value.status == 400
    return exc.value.message


def test_valid_static_addresses():
    got = validate_endpoint_ipam(
        {
            "IPv4Address": "192.168.100.10",  # outside the ip-range, inside the subnet: fine
            "IPv6Address": "2a01:d2:af:420b:25c1:1816:bb33:855c",
            "LinkLocalIPs": ["169.254.169.254", "fe80::42:a8ff:fe33:6230"],
        },
        V4,
        V6,
    )
    assert got == StaticAddresses(
        ip("192.168.100.10"),
        ip("2a01:d2:af:420b:25c1:1816:bb33:855c"),
        (ip("169.254.169.254"), ip("fe80::42:a8ff:fe33:6230")),
    )
    assert validate_endpoint_ipam(None, (), ()) == StaticAddresses()
    assert validate_endpoint_ipam({}, (), ()) == StaticAddresses()


def test_static_addresses_out_of_range():
    got = endpoint_error({"IPv4Address": "192.168.101.10", "IPv6Address": "2001:db8::5"})
    assert got == (
        "invalid endpoint settings:\n"
        "* no configured subnet or ip-range contain the IP address 192.168.101.10\n"
        "* no configured subnet or ip-range contain the IP address 2001:db8::5"
    )


def test_static_addresses_on_network_without_user_subnets():
    got = endpoint_error({"IPv4Address": "172.18.0.5"}, v4=(), v6=())
    assert got == (
        "invalid endpoint settings:\n"
        "user specified IP address is supported only when connecting to networks with user configured subnets"
    )


def test_invalid_static_addresses():
    got = endpoint_error({"IPv4Address": "2001:db8::1", "IPv6Address": "10.0.0.1", "LinkLocalIPs": ["0.0.0.0", "x"]})
    assert got == (
        "invalid endpoint settings:\n"
        "* invalid IPv4 address: 2001:db8::1\n"
        "* invalid IPv6 address: 10.0.0.1\n"
        "* invalid link-local IP address: 0.0.0.0\n"
        "* invalid link-local IP address: x\n"
        "* no configured subnet or ip-range contain the IP address 2001:db8::1\n"
        "* no configured subnet or ip-range contain the IP address 10.0.0.1"
    )


def test_ipv4_mapped_and_unspecified_follow_go_net_parseip():
    got = validate_endpoint_ipam({"IPv4Address": "::ffff:192.168.100.7"}, V4, V6)
    assert got.ipv4 == ip("192.168.100.7")
    assert endpoint_error({"IPv4Address": "0.0.0.0"}, v4=None, v6=None) == (
        "invalid endpoint settings:\ninvalid IPv4 address: 0.0.0.0"
    )
    assert endpoint_error({"IPv6Address": "::ffff:1.2.3.4"}, v4=None, v6=None) == (
        "invalid endpoint settings:\ninvalid IPv6 address: ::ffff:1.2.3.4"
    )


def test_predefined_networks_refuse_static_ips_and_aliases():
    got = endpoint_error({"IPv4Address": "172.17.0.9"}, v4=(), v6=(), user_defined=False, aliases=["web"])
    assert got == (
        "invalid endpoint settings:\n"
        "* user specified IP address is supported on user defined networks only\n"
        "* network-scoped alias is supported only for containers in user defined networks\n"
        "* user specified IP address is supported only when connecting to networks with user configured subnets"
    )
