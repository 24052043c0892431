"""How swarm requests' addresses are read: dockerd's rules and texts, on a fake host's interfaces."""

from __future__ import annotations

import pytest

from libnetwork.cluster import addrs
from libnetwork.errors import InvalidParameter

ONE = {"lo": ["127.0.0.1", "::1"], "eth0": ["192.168.10.11", "fe80::1"]}
TWO_ON_ETH0 = {"lo": ["127.0.0.1"], "eth0": ["192.168.10.11", "192.168.10.111"]}
TWO_IFACES = {"lo": ["127.0.0.1"], "eth0": ["192.168.10.11"], "eth1": ["10.1.0.2"]}


def test_listen_defaults_and_forms() -> None:
    assert addrs.parse_listen("0.0.0.0:2377", ONE) == ("0.0.0.0", 2377)
    assert addrs.parse_listen("tcp://0.0.0.0:2377", ONE) == ("0.0.0.0", 2377)
    assert addrs.parse_listen("192.168.10.11", ONE) == ("192.168.10.11", 2377)
    assert addrs.parse_listen("eth0:4000", ONE) == ("192.168.10.11", 4000)
    assert addrs.parse_listen("[::1]:2377", ONE) == ("::1", 2377)


@pytest.mark.parametrize("text, message", [
    ("", 'invalid ListenAddr "": invalid empty address'),
    ("bogus", addrs.LISTEN_INVALID),
    ("1.2.3.4:http", addrs.LISTEN_INVALID),
])
def test_listen_refusals(text: str, message: str) -> None:
    with pytest.raises(InvalidParameter, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
        addrs.parse_listen(text, ONE)


def test_advertise_given_as_ip_interface_or_nothing() -> None:
    assert addrs.parse_advertise("192.168.10.11", ONE, "0.0.0.0") == ("192.168.10.11", None)
    # an address the host does not have is accepted, as dockerd does
    assert addrs.parse_advertise("10.99.99.99", ONE, "0.0.0.0") == ("10.99.99.99", None)
    assert addrs.parse_advertise("eth0", ONE, "0.0.0.0") == ("192.168.10.11", None)
    assert addrs.parse_advertise("", ONE, "0.0.0.0") == ("192.168.10.11", None)
    assert addrs.parse_advertise("", TWO_ON_ETH0, "192.168.10.111") == ("192.168.10.111", None)


@pytest.mark.parametrize("text", ["eth9", "not an address", "0.0.0.0"])
def test_advertise_refusals(text: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        addrs.parse_advertise(text, ONE, "0.0.0.0")
    assert caught.value.message == addrs.ADVERTISE_INVALID


def test_advertise_choice_needs_one_candidate() -> None:
    with pytest.raises(InvalidParameter) as caught:
        addrs.parse_advertise("", TWO_ON_ETH0, "0.0.0.0")
    assert caught.value.message == (
        "could not choose an IP address to advertise since this system has multiple addresses on interface eth0 "
        "(192.168.10.11 and 192.168.10.111) - specify one with --advertise-addr")
    with pytest.raises(InvalidParameter, match="on different interfaces"):
        addrs.parse_advertise("", TWO_IFACES, "0.0.0.0")


def test_data_path_address() -> None:
    assert addrs.parse_data_path("", ONE, "192.168.10.11") == "192.168.10.11"
    assert addrs.parse_data_path("eth0", ONE, "10.0.0.1") == "192.168.10.11"
    with pytest.raises(InvalidParameter):
        addrs.parse_data_path("eth7", ONE, "10.0.0.1")
