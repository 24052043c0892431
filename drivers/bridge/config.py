"""Docker's bridge ``-o`` options parsed once into a typed config."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from libnetwork.errors import InvalidParameter

BRIDGE_NAME = "com.docker.network.bridge.name"
ENABLE_IP_MASQUERADE = "com.docker.network.bridge.enable_ip_masquerade"
ENABLE_ICC = "com.docker.network.bridge.enable_icc"
INHIBIT_IPV4 = "com.docker.network.bridge.inhibit_ipv4"
HOST_BINDING_IPV4 = "com.docker.network.bridge.host_binding_ipv4"
DEFAULT_BRIDGE = "com.docker.network.bridge.default_bridge"
MTU = "com.docker.network.driver.mtu"
IFACE_PREFIX = "com.docker.network.container_iface_prefix"

MAX_IFNAME = 15  # IFNAMSIZ - 1


@dataclass(frozen=True)
class BridgeConfig:
    bridge_name: str
    mtu: int
    enable_icc: bool = True
    enable_ip_masquerade: bool = True
    inhibit_ipv4: bool = False
    host_binding_ipv4: str = "0.0.0.0"
    iface_prefix: str = "eth"


def _parse_bool(key: str, value: str) -> bool:
    # Go's strconv.ParseBool, which Docker uses for these options.
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise InvalidParameter(
        f'failed to parse {key} value: {value} (strconv.ParseBool: parsing "{value}": invalid syntax)')


def _parse_int(key: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidParameter(
            f'failed to parse {key} value: {value} (strconv.Atoi: parsing "{value}": invalid syntax)') from None


def parse_options(nid: str, options: Mapping[str, str], *, default_mtu: int,
                  default_bridge_name: str | None = None, default_icc: bool = True,
                  default_masquerade: bool = True, default_binding_ip: str = "0.0.0.0") -> BridgeConfig:
    """``default_bridge_name`` is set only for the predefined default network.

    The ``default_*`` values are the daemon's (dockerd's --icc, --ip-masq, --ip).
    """
    name = options.get(BRIDGE_NAME) or default_bridge_name or f"br-{nid[:12]}"
    if len(name) > MAX_IFNAME:
        raise InvalidParameter(f"bridge name {name} is longer than {MAX_IFNAME} characters")
    mtu = _parse_int(MTU, options[MTU]) if MTU in options else default_mtu
    if mtu < 68 or mtu > 65535:
        raise InvalidParameter(f"invalid MTU number: {mtu}")
    binding_ip = options.get(HOST_BINDING_IPV4) or default_binding_ip
    try:
        ipaddress.ip_address(binding_ip)
    except ValueError:
        raise InvalidParameter(f"failed to parse {HOST_BINDING_IPV4} value: {binding_ip} "
                               f"(ParseAddr({binding_ip!r}): unable to parse IP)") from None
    return BridgeConfig(
        bridge_name=name,
        mtu=mtu,
        enable_icc=_parse_bool(ENABLE_ICC, options[ENABLE_ICC]) if ENABLE_ICC in options else default_icc,
        enable_ip_masquerade=(_parse_bool(ENABLE_IP_MASQUERADE, options[ENABLE_IP_MASQUERADE])
                              if ENABLE_IP_MASQUERADE in options else default_masquerade),
        inhibit_ipv4=_parse_bool(INHIBIT_IPV4, options[INHIBIT_IPV4]) if INHIBIT_IPV4 in options else False,
        host_binding_ipv4=binding_ip,
        iface_prefix=options.get(IFACE_PREFIX, "eth"),
    )
