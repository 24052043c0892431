"""Port publishing, the pure parts: Docker's port settings -> bindings, the allocator, Docker's Ports shape."""

from __future__ import annotations

import ipaddress

import pytest

from libnetwork.drivers.api import PortBinding
from libnetwork.drivers.bridge.portallocator import DEFAULT_RANGE, PortAllocator, parse_port_range
from libnetwork.drivers.bridge.portmapper import host_targets
from libnetwork.errors import InvalidParameter, PortUnavailable
from libnetwork.portspec import docker_ports, parse_host_port, parse_port_key, requested_bindings


def test_forms_the_cli_sends():
    bindings = {
        "80/tcp": [{"HostIp": "", "HostPort": "8080"}],                     # 8080:80
        "81/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8081"}],            # 127.0.0.1:8081:81
        "53/udp": [{"HostIp": "", "HostPort": "5353"}],                     # 5353:53/udp
        "82/tcp": [{"HostIp": "", "HostPort": ""}],                         # 82 (ephemeral)
        "83/tcp": [{"HostIp": "", "HostPort": "9000-9005"}],                # 9000-9005:83
    }
    assert requested_bindings(bindings, [], False) == (
        PortBinding("tcp", 80, "", 8080), PortBinding("tcp", 81, "127.0.0.1", 8081),
        PortBinding("udp", 53, "", 5353), PortBinding("tcp", 82), PortBinding("tcp", 83, "", 9000, 9005))


def test_publish_all_adds_every_exposed_port_once():
    bindings = {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}
    got = requested_bindings(bindings, ["80/tcp", "90/tcp", "91/udp"], True)
    assert got == (PortBinding("tcp", 80, "", 8080), PortBinding("tcp", 90), PortBinding("udp", 91))
    assert requested_bindings({}, ["90/tcp"], False) == ()


@pytest.mark.parametrize("key, expected", [("80/tcp", (80, "tcp")), ("80", (80, "tcp")), ("53/UDP", (53, "udp")),
                                           ("9/sctp", (9, "sctp"))])
def test_port_keys(key, expected):
    assert parse_port_key(key) == expected


@pytest.mark.parametrize("key", ["0/tcp", "x/tcp", "80/icmp", "70000/tcp"])
def test_bad_port_keys(key):
    with pytest.raises(InvalidParameter):
        parse_port_key(key)


def test_host_ports():
    assert parse_host_port("") == (0, 0)
    assert parse_host_port("8080") == (8080, 0)
    assert parse_host_port("8000-8005") == (8000, 8005)
    with pytest.raises(InvalidParameter):
        parse_host_port("8005-8000")


def test_docker_ports_shape():
    bound = [PortBinding("tcp", 80, "0.0.0.0", 8080), PortBinding("tcp", 80, "::", 8080)]
    assert docker_ports(["80/tcp", "90/tcp"], {"80/tcp": []}, bound) == {
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
        "90/tcp": None,
    }


def test_allocator_is_sequential_and_wraps():
    ports = PortAllocator((100, 102))
    assert [ports.request("0.0.0.0", "tcp") for _ in range(3)] == [100, 101, 102]
    with pytest.raises(PortUnavailable, match="all ports are allocated"):
        ports.request("0.0.0.0", "tcp")
    ports.release("0.0.0.0", "tcp", 101)
    assert ports.request("0.0.0.0", "tcp") == 101
    # per address and protocol
    assert ports.request("0.0.0.0", "udp") == 100
    assert ports.request("127.0.0.1", "tcp") == 100


def test_allocator_does_not_hand_a_released_port_out_at_once():
    ports = PortAllocator((100, 104))
    first = ports.request("0.0.0.0", "tcp")
    ports.release("0.0.0.0", "tcp", first)
    assert ports.request("0.0.0.0", "tcp") == first + 1


def test_allocator_fixed_ports_and_ranges():
    ports = PortAllocator()
    assert ports.request("0.0.0.0", "tcp", 8080) == 8080
    with pytest.raises(PortUnavailable, match=r"Bind for 0.0.0.0:8080 failed: port is already allocated"):
        ports.request("0.0.0.0", "tcp", 8080)
    assert ports.request("::", "tcp", 8080) == 8080
    with pytest.raises(PortUnavailable, match=r"Bind for \[::\]:8080 failed"):
        ports.request("::", "tcp", 8080)
    assert [ports.request("0.0.0.0", "tcp", 9000, 9001) for _ in range(2)] == [9000, 9001]
    with pytest.raises(PortUnavailable):
        ports.request("0.0.0.0", "tcp", 9000, 9001)


def test_kernel_range():
    assert parse_port_range("32768\t60999") == (32768, 60999)
    assert parse_port_range("garbage") == DEFAULT_RANGE


def test_host_targets_publish_on_both_families_by_default():
    v4, v6 = ipaddress.ip_address("172.17.0.2"), ipaddress.ip_address("fd00::2")
    both = host_targets("", "0.0.0.0", v4, v6)
    assert [(str(h), str(c)) for h, c in both] == [("0.0.0.0", "172.17.0.2"), ("::", "fd00::2")]
    assert [str(h) for h, _ in host_targets("0.0.0.0", "0.0.0.0", v4, v6)] == ["0.0.0.0"]
    assert [str(h) for h, _ in host_targets("", "192.0.2.1", v4, v6)] == ["192.0.2.1"]
    assert host_targets("::1", "0.0.0.0", v4, None) == []
