"""The bridge driver's kernel steps, each small, idempotent and tested alone.

A network is set up by running ``NETWORK_SETUP`` in order and torn down by
``NETWORK_TEARDOWN``; a restart runs the setup steps again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from libnetwork.drivers.api import NetworkConfig
from libnetwork.firewall.api import Firewall, NetworkRules
from libnetwork.netlink import Netlink, ensure_sysctl

from .config import BridgeConfig

# Docker's IPAM aux address naming the gateway sandboxes use (dockerd's --default-gateway).
DEFAULT_GATEWAY_V4 = "DefaultGatewayIPv4"
DEFAULT_GATEWAY_V6 = "DefaultGatewayIPv6"


@dataclass(frozen=True)
class BridgeNetwork:
    """What the driver keeps in memory per network."""

    config: NetworkConfig
    bridge: BridgeConfig

    def firewall_rules(self) -> NetworkRules:
        subnets = tuple(s.subnet for s in self.config.ipv4)
        if self.config.enable_ipv6:
            subnets += tuple(s.subnet for s in self.config.ipv6)
        return NetworkRules(bridge=self.bridge.bridge_name, subnets=subnets, internal=self.config.internal,
                            masquerade=self.bridge.enable_ip_masquerade)

    def gateways(self):
        """(IPv4, IPv6) gateway of the sandboxes: none on internal networks, as Docker."""
        if self.config.internal:
            return None, None

        def pick(subnets, aux_key):
            for subnet in subnets:
                if aux_key in subnet.aux_addresses:
                    return subnet.aux_addresses[aux_key]
                if subnet.gateway is not None:
                    return subnet.gateway.ip
            return None

        v6 = pick(self.config.ipv6, DEFAULT_GATEWAY_V6) if self.config.enable_ipv6 else None
        return pick(self.config.ipv4, DEFAULT_GATEWAY_V4), v6


@dataclass(frozen=True)
class Host:
    """The daemon's namespace as the steps touch it."""

    netlink: Netlink
    firewall: Firewall


def setup_device(host: Host, net: BridgeNetwork) -> None:
    host.netlink.ensure_bridge(net.bridge.bridge_name, mtu=net.bridge.mtu, mac=bridge_mac(net.config.nid))


def setup_no_dad(host: Host, net: BridgeNetwork) -> None:
    """No duplicate address detection on the bridge's own IPv6 link-local address.

    The kernel makes that address when the first port brings carrier, and it
    stays tentative for one to two seconds; meanwhile a neighbour
    solicitation that needs it as its source (one for a packet not from an
    address of the bridge: DNAT from a host address, a forwarded packet) is
    not sent at all, so the first packets to a new sandbox wait a probe
    interval or more.  The bridge is ours alone and its neighbours' addresses
    come from IPAM: there is nothing to detect.
    """
    if os.path.isdir("/proc/sys/net/ipv6"):  # not on a kernel booted with ipv6.disable=1
        ensure_sysctl(f"net/ipv6/conf/{net.bridge.bridge_name}/accept_dad", "0")


def setup_addresses(host: Host, net: BridgeNetwork) -> None:
    link = host.netlink.find_link(net.bridge.bridge_name)
    if link is None:
        raise FileNotFoundError(f"no link {net.bridge.bridge_name}")
    subnets = () if net.bridge.inhibit_ipv4 else net.config.ipv4
    if net.config.enable_ipv6:
        subnets += net.config.ipv6
    for subnet in subnets:
        if subnet.gateway is not None:
            host.netlink.ensure_address(link.index, subnet.gateway)


def setup_forwarding(host: Host, net: BridgeNetwork) -> None:
    """Routing between the bridge and the rest (dockerd's --ip-forward, on by default)."""
    if net.config.internal:
        return
    ensure_sysctl("net/ipv4/ip_forward", "1")
    if net.config.enable_ipv6:
        ensure_sysctl("net/ipv6/conf/all/forwarding", "1")


def setup_loopback_routing(host: Host, net: BridgeNetwork) -> None:
    """Let DNATed packets from 127.0.0.1 leave through the bridge (ports published on localhost)."""
    if host.firewall.localhost_ports and not net.config.internal:
        ensure_sysctl(f"net/ipv4/conf/{net.bridge.bridge_name}/route_localnet", "1")


def setup_firewall(host: Host, net: BridgeNetwork) -> None:
    host.firewall.add_network(net.firewall_rules())


NETWORK_SETUP = (setup_device, setup_no_dad, setup_addresses, setup_forwarding, setup_loopback_routing, setup_firewall)


def teardown_firewall(host: Host, net: BridgeNetwork) -> None:
    host.firewall.remove_network(net.firewall_rules())


def teardown_device(host: Host, net: BridgeNetwork) -> None:
    host.netlink.remove_link(net.bridge.bridge_name)


NETWORK_TEARDOWN = (teardown_firewall, teardown_device)


def veth_names(eid: str) -> tuple[str, str]:
    """(host side, sandbox side before the rename): fixed per endpoint, so steps repeat."""
    return f"veth{eid[:7]}", f"vsb{eid[:7]}"


def mac_from_ipv4(address) -> str:
    """Docker <= 27: 02:42 followed by the four bytes of the IPv4 address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in address.packed)


def bridge_mac(nid: str) -> str:
    """The bridge's own MAC, from the network ID.

    Fixed, so that it never follows its ports' (see ``Netlink.ensure_bridge``),
    and the same when a restart makes the bridge again after someone deleted
    it, so sandboxes' neighbour entries for the gateway stay right.  06: is
    locally administered like Docker's 02:42: sandbox MACs, and apart from them.
    """
    return "06:" + ":".join(nid[i:i + 2] for i in range(0, 10, 2))


def mac_from_id(eid: str) -> str:
    return "02:42:" + ":".join(eid[i:i + 2] for i in range(0, 8, 2))
