"""The overlay's ``-o`` options parsed once, in create_network, into a typed config."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from libnetwork.drivers.api import NetworkConfig
from libnetwork.errors import Forbidden, InvalidParameter

VXLANID_LIST = "com.docker.network.driver.overlay.vxlanid_list"
MTU = "com.docker.network.driver.mtu"
DSTPORT = "cnm.overlay.dstport"
ENCRYPTED = "encrypted"

VNI_MIN, VNI_MAX = 1, (1 << 24) - 1
DEFAULT_DSTPORT = 4789          # IANA's VXLAN port, Docker's default data path port
VXLAN_OVERHEAD = 50             # inner Ethernet 14 + outer IPv4 20 + UDP 8 + VXLAN 8
MTU_MIN, MTU_MAX = 68, 65535


@dataclass(frozen=True)
class OverlayConfig:
    """One overlay network as this node builds it."""

    vni: int
    mtu: int                    # of vxlan0, br0 and every endpoint's interface
    dstport: int = DEFAULT_DSTPORT
    encrypted: bool = False
    gateway: ipaddress.IPv4Interface | None = None      # on br0 in the overlay namespace
    gateway_v6: ipaddress.IPv6Interface | None = None


def _parse_int(key: str, value: str, low: int, high: int, what: str) -> int:
    text = value.strip()
    if not (text.isascii() and text.isdigit()):
        raise InvalidParameter(f"failed to parse {key} value: {value!r}: {what} must be a decimal number")
    number = int(text)
    if not low <= number <= high:
        raise InvalidParameter(f"invalid {key} value: {number}: {what} must be between {low} and {high}")
    return number


def parse_vnis(value: str) -> tuple[int, ...]:
    """Docker's ``vxlanid_list``: comma-separated VNIs, one per IPv4 subnet, in subnet order."""
    parts = [p for p in value.split(",")]
    if not value.strip() or any(not p.strip() for p in parts):
        raise InvalidParameter(f"invalid {VXLANID_LIST} value: {value!r}: expected VNIs separated by commas")
    return tuple(_parse_int(VXLANID_LIST, p, VNI_MIN, VNI_MAX, "a VNI") for p in parts)


def parse_options(config: NetworkConfig, *, underlay_mtu: int) -> OverlayConfig:
    """``underlay_mtu`` is the daemon's (DriverContext.mtu): the default MTU is 50 bytes less.

    The VNI comes from the option (the cluster's allocator writes it there,
    as Docker's does); there is no local fallback, because every node must
    agree on it.
    """
    options: Mapping[str, str] = config.options
    if not config.ipv4:
        raise InvalidParameter("ipv4 pool is empty")
    if len(config.ipv4) > 1:
        raise Forbidden("the overlay driver supports one IPv4 subnet per network")
    if VXLANID_LIST not in options:
        raise InvalidParameter(f"overlay network {config.name} has no VXLAN ID: option {VXLANID_LIST} is required "
                               f"(a VNI from {VNI_MIN} to {VNI_MAX})")
    vnis = parse_vnis(options[VXLANID_LIST])
    if len(vnis) != 1:
        raise InvalidParameter(f"invalid {VXLANID_LIST} value: {options[VXLANID_LIST]!r}: "
                               f"one VNI per IPv4 subnet, and the network has one")
    # Docker's maxMTU: the option, like the daemon's MTU, is the underlay's; VXLAN's header comes off both.
    link_mtu = _parse_int(MTU, options[MTU], MTU_MIN + VXLAN_OVERHEAD, MTU_MAX, "the MTU") if MTU in options \
        else underlay_mtu
    mtu = link_mtu - VXLAN_OVERHEAD
    if mtu < MTU_MIN:
        raise InvalidParameter(f"the underlay MTU {underlay_mtu} leaves no room for VXLAN's "
                               f"{VXLAN_OVERHEAD} bytes; set {MTU}")
    dstport = _parse_int(DSTPORT, options[DSTPORT], 1, 65535, "a UDP port") if DSTPORT in options \
        else DEFAULT_DSTPORT
    gateway = config.ipv4[0].gateway
    gateway_v6 = None
    if config.enable_ipv6:
        gateway_v6 = next((s.gateway for s in config.ipv6 if isinstance(s.gateway, ipaddress.IPv6Interface)), None)
    return OverlayConfig(
        vni=vnis[0], mtu=mtu, dstport=dstport,
        # Docker's rule: the key's presence turns encryption on, whatever its value.
        encrypted=ENCRYPTED in options,
        gateway=gateway if isinstance(gateway, ipaddress.IPv4Interface) else None, gateway_v6=gateway_v6,
    )
