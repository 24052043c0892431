"""The bridge driver's kernel steps, each small, idempotent and tested alone.

A network is set up by running ``NETWORK_SETUP`` in order; the firewall
steps of the bridge issue slot into the same list.
"""

from __future__ import annotations

from dataclasses import dataclass

from libnetwork.drivers.api import NetworkConfig
from libnetwork.netlink import Netlink

from .config import BridgeConfig


@dataclass(frozen=True)
class BridgeNetwork:
    """What the driver keeps in memory per network."""

    config: NetworkConfig
    bridge: BridgeConfig


def setup_device(nl: Netlink, net: BridgeNetwork) -> None:
    nl.ensure_bridge(net.bridge.bridge_name, mtu=net.bridge.mtu)


def setup_addresses(nl: Netlink, net: BridgeNetwork) -> None:
    link = nl.find_link(net.bridge.bridge_name)
    subnets = () if net.bridge.inhibit_ipv4 else net.config.ipv4
    if net.config.enable_ipv6:
        subnets += net.config.ipv6
    for subnet in subnets:
        if subnet.gateway is not None:
            nl.ensure_address(link.index, subnet.gateway)


NETWORK_SETUP = (setup_device, setup_addresses)


def veth_names(eid: str) -> tuple[str, str]:
    """(host side, sandbox side before the rename): fixed per endpoint, so steps repeat."""
    return f"veth{eid[:7]}", f"vsb{eid[:7]}"


def mac_from_ipv4(address) -> str:
    """Docker <= 27: 02:42 followed by the four bytes of the IPv4 address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in address.packed)


def mac_from_id(eid: str) -> str:
    return "02:42:" + ":".join(eid[i:i + 2] for i in range(0, 8, 2))
