"""Daemon-wide settings (dockerd's flags), and what follows from them alone."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .requests import SubnetRequest
from .v1plugins import DEFAULT_DIRS


@dataclass(frozen=True)
class Settings:
    """Daemon-wide settings (dockerd's flags)."""

    data_root: str = "/var/lib/cnm"
    exec_root: str = "/run/cnm"
    bip: str | None = None                # "172.17.0.1/16"
    default_address_pools: tuple[tuple[str, int], ...] = ()
    mtu: int = 1500
    default_bridge_name: str = "cnm0"
    resolv_conf: str = "/etc/resolv.conf"
    dns: tuple[str, ...] = ()             # daemon-wide --dns upstreams
    adopted_poll_interval: float = 1.0
    # dockerd's firewall and default-bridge flags
    iptables: bool = True                 # False: the null firewall backend
    icc: bool = True
    ip_masq: bool = True
    default_binding_ip: str = "0.0.0.0"   # --ip
    fixed_cidr: str | None = None
    default_gateway: str | None = None
    # Docker's v1 plugin directories, and how long a plugin may take to
    # answer (and to come up before a call fails).
    plugin_dirs: tuple[str, ...] = DEFAULT_DIRS
    plugin_timeout: float = 30.0


def default_bridge_subnet(settings: Settings) -> SubnetRequest | None:
    """The default bridge's IPv4 subnet from dockerd's --bip, --fixed-cidr and --default-gateway.

    As dockerd: --fixed-cidr alone is also the subnet; --default-gateway is
    an aux address the bridge driver gives sandboxes as their gateway.
    """
    bip = ipaddress.ip_interface(settings.bip) if settings.bip else None
    fixed = ipaddress.ip_network(settings.fixed_cidr, strict=False) if settings.fixed_cidr else None
    if bip is None and fixed is None:
        return None
    aux = {}
    if settings.default_gateway:
        aux["DefaultGatewayIPv4"] = ipaddress.ip_address(settings.default_gateway)
    subnet = bip.network if bip else fixed
    assert subnet is not None
    return SubnetRequest(subnet=subnet, ip_range=fixed if fixed != subnet else None,
                         gateway=bip.ip if bip else None, aux_addresses=aux)
